/// Frame types (RFC 9113 §6, RFC 9218 §7.1). Unknown types are ignored (§4.1).
public struct FrameType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let data = FrameType(rawValue: 0x0)
    public static let headers = FrameType(rawValue: 0x1)
    public static let priority = FrameType(rawValue: 0x2)
    public static let rstStream = FrameType(rawValue: 0x3)
    public static let settings = FrameType(rawValue: 0x4)
    public static let pushPromise = FrameType(rawValue: 0x5)
    public static let ping = FrameType(rawValue: 0x6)
    public static let goAway = FrameType(rawValue: 0x7)
    public static let windowUpdate = FrameType(rawValue: 0x8)
    public static let continuation = FrameType(rawValue: 0x9)
    /// RFC 9218 §7.1.
    public static let priorityUpdate = FrameType(rawValue: 0x10)

    public var description: String {
        switch self {
        case .data: "DATA"
        case .headers: "HEADERS"
        case .priority: "PRIORITY"
        case .rstStream: "RST_STREAM"
        case .settings: "SETTINGS"
        case .pushPromise: "PUSH_PROMISE"
        case .ping: "PING"
        case .goAway: "GOAWAY"
        case .windowUpdate: "WINDOW_UPDATE"
        case .continuation: "CONTINUATION"
        case .priorityUpdate: "PRIORITY_UPDATE"
        default: "UNKNOWN(0x\(String(rawValue, radix: 16)))"
        }
    }
}

/// Frame flags (RFC 9113 §6). Flags a type does not define are ignored (§4.1).
public struct FrameFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// DATA, HEADERS.
    public static let endStream = FrameFlags(rawValue: 0x1)
    /// SETTINGS, PING.
    public static let ack = FrameFlags(rawValue: 0x1)
    /// HEADERS, PUSH_PROMISE, CONTINUATION.
    public static let endHeaders = FrameFlags(rawValue: 0x4)
    /// DATA, HEADERS, PUSH_PROMISE.
    public static let padded = FrameFlags(rawValue: 0x8)
    /// HEADERS.
    public static let priority = FrameFlags(rawValue: 0x20)
}
