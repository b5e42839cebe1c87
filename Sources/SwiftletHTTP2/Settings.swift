/// SETTINGS parameters (RFC 9113 §6.5.2, RFC 8441 §3, RFC 9218 §2.1).
public struct SettingsParameter: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let headerTableSize = SettingsParameter(rawValue: 0x1)
    public static let enablePush = SettingsParameter(rawValue: 0x2)
    public static let maxConcurrentStreams = SettingsParameter(rawValue: 0x3)
    public static let initialWindowSize = SettingsParameter(rawValue: 0x4)
    public static let maxFrameSize = SettingsParameter(rawValue: 0x5)
    public static let maxHeaderListSize = SettingsParameter(rawValue: 0x6)
    public static let enableConnectProtocol = SettingsParameter(rawValue: 0x8)
    public static let noRFC7540Priorities = SettingsParameter(rawValue: 0x9)

    public var description: String {
        switch self {
        case .headerTableSize: "SETTINGS_HEADER_TABLE_SIZE"
        case .enablePush: "SETTINGS_ENABLE_PUSH"
        case .maxConcurrentStreams: "SETTINGS_MAX_CONCURRENT_STREAMS"
        case .initialWindowSize: "SETTINGS_INITIAL_WINDOW_SIZE"
        case .maxFrameSize: "SETTINGS_MAX_FRAME_SIZE"
        case .maxHeaderListSize: "SETTINGS_MAX_HEADER_LIST_SIZE"
        case .enableConnectProtocol: "SETTINGS_ENABLE_CONNECT_PROTOCOL"
        case .noRFC7540Priorities: "SETTINGS_NO_RFC7540_PRIORITIES"
        default: "SETTINGS_UNKNOWN(0x\(String(rawValue, radix: 16)))"
        }
    }
}

/// The peer's settings as they stand (defaults from RFC 9113 §6.5.2).
public struct PeerSettings: Equatable, Sendable {
    public var headerTableSize: UInt32 = 4096
    public var enablePush: Bool = true
    public var maxConcurrentStreams: UInt32 = .max
    public var initialWindowSize: UInt32 = 65_535
    public var maxFrameSize: UInt32 = 16_384
    public var maxHeaderListSize: UInt32 = .max
    public var noRFC7540Priorities: Bool = false

    public init() {}

    /// Validates one received parameter (§6.5.2) and applies it. Unknown
    /// parameters are ignored: "An endpoint that receives a SETTINGS frame
    /// with any unknown or unsupported identifier MUST ignore that setting."
    public mutating func apply(_ parameter: SettingsParameter, _ value: UInt32) -> Rejection? {
        switch parameter {
        case .headerTableSize:
            headerTableSize = value
        case .enablePush:
            // "Any value other than 0 or 1 MUST be treated as a connection
            // error (Section 5.4.1) of type PROTOCOL_ERROR."
            guard value <= 1 else {
                return Rejection(.settingsEnablePush, "SETTINGS_ENABLE_PUSH must be 0 or 1, got \(value)")
            }
            enablePush = value == 1
        case .maxConcurrentStreams:
            maxConcurrentStreams = value
        case .initialWindowSize:
            // "Values above the maximum flow-control window size of 2^31-1
            // MUST be treated as a connection error of type FLOW_CONTROL_ERROR."
            guard value <= 0x7FFF_FFFF else {
                return Rejection(.settingsInitialWindow, "SETTINGS_INITIAL_WINDOW_SIZE \(value) exceeds 2^31-1")
            }
            initialWindowSize = value
        case .maxFrameSize:
            // "Values outside this range MUST be treated as a connection error
            // of type PROTOCOL_ERROR."
            guard value >= 16_384 && value <= 16_777_215 else {
                return Rejection(.settingsMaxFrameSize, "SETTINGS_MAX_FRAME_SIZE \(value) is outside 16384...16777215")
            }
            maxFrameSize = value
        case .maxHeaderListSize:
            maxHeaderListSize = value
        case .enableConnectProtocol:
            // RFC 8441 §3: the value is 0 or 1.
            guard value <= 1 else {
                return Rejection(.settingsConnectProtocol, "SETTINGS_ENABLE_CONNECT_PROTOCOL must be 0 or 1, got \(value)")
            }
        case .noRFC7540Priorities:
            // RFC 9218 §2.1: "values other than 0 or 1 MUST be treated as a
            // connection error of type PROTOCOL_ERROR".
            guard value <= 1 else {
                return Rejection(.settingsNoRFC7540Priorities, "SETTINGS_NO_RFC7540_PRIORITIES must be 0 or 1, got \(value)")
            }
            noRFC7540Priorities = value == 1
        default:
            break
        }
        return nil
    }
}

/// What a whole SETTINGS frame changed that the rest of the connection
/// acts on (`PeerSettings.apply(_:)`).
public struct SettingsChange: Equatable, Sendable {
    /// The first parameter rejected (the connection error to send); the
    /// parameters after it were not applied.
    public var rejection: Rejection?
    /// The new SETTINGS_INITIAL_WINDOW_SIZE minus the old: every stream's
    /// send window moves by it (§6.9.2).
    public var initialWindowDelta = 0
    /// The smallest SETTINGS_HEADER_TABLE_SIZE the frame carried, if any:
    /// the encoder announces it before the final one (RFC 7541 §4.2).
    public var smallestHeaderTableSize: UInt32?
}

extension PeerSettings {
    /// Applies a SETTINGS frame's parameters in order (§6.5.3: "The values
    /// in the SETTINGS frame MUST be processed in the order they appear,
    /// with no other frame processing between values"), stopping at the
    /// first rejected one.
    public mutating func apply(_ entries: some Sequence<(SettingsParameter, UInt32)>) -> SettingsChange {
        var change = SettingsChange()
        let previousWindow = Int(initialWindowSize)
        for (parameter, value) in entries {
            if let rejection = apply(parameter, value) {
                change.rejection = rejection
                break
            }
            if parameter == .headerTableSize { change.smallestHeaderTableSize = min(change.smallestHeaderTableSize ?? value, value) }
        }
        change.initialWindowDelta = Int(initialWindowSize) - previousWindow
        return change
    }
}

extension Limits {
    /// The SETTINGS of our connection preface (§3.4): the limits a peer
    /// must know, and each setting whose value differs from RFC 9113's
    /// default (§6.5.2), which needs no announcing.
    public var advertisedSettings: [(SettingsParameter, UInt32)] {
        var parameters: [(SettingsParameter, UInt32)] = [
            (.maxConcurrentStreams, UInt32(maxConcurrentStreams)),
            (.maxHeaderListSize, UInt32(maxHeaderListSize)),
            // RFC 9218 §2.1: we use RFC 9218 priorities, not RFC 7540's tree.
            (.noRFC7540Priorities, 1),
        ]
        if initialStreamWindowSize != 65_535 { parameters.append((.initialWindowSize, UInt32(initialStreamWindowSize))) }
        if maxFrameSize != 16_384 { parameters.append((.maxFrameSize, UInt32(maxFrameSize))) }
        if headerTableSize != 4096 { parameters.append((.headerTableSize, UInt32(headerTableSize))) }
        // RFC 8441 §3: extended CONNECT (WebSockets over HTTP/2).
        if enableConnectProtocol { parameters.append((.enableConnectProtocol, 1)) }
        return parameters
    }
}
