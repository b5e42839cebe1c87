/// The life of an HTTP/2 connection, server side (RFC 9113 §3.4, §5.4, §6.8).
///
///     awaitingPreface ──24-byte preface──▶ awaitingSettings ──SETTINGS──▶ active
///           │                                    │                        │
///           │ bad preface, timeout               │ other frame, timeout   │ graceful shutdown:
///           ▼                                    ▼                        ▼ GOAWAY(2^31-1) + PING
///         closing ◀──────────────────────── any connection error ◀── draining(phase)
///           │  GOAWAY(code, reason) written, then close         │ PING ACK or timeout:
///           ▼                                                   │ GOAWAY(last stream id);
///         closed                                                │ close when no stream is open
///
/// The state changes only through the functions below, each of which
/// returns what the connection must do.
public enum ConnectionState: Equatable, Sendable {
    /// Waiting for "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (§3.4).
    case awaitingPreface
    /// Preface seen; "MUST be followed by a SETTINGS frame" (§3.4).
    case awaitingSettings
    /// Serving.
    case active
    /// Shutting down gracefully: no new streams after `lastStreamID`.
    case draining(DrainPhase)
    /// A GOAWAY with an error (or the final one) is queued; nothing more is read.
    case closing
    case closed

    public enum DrainPhase: Equatable, Sendable {
        /// GOAWAY(2^31-1) and a PING are out; streams may still start.
        case announced
        /// The final GOAWAY carried `lastStreamID`.
        case final(lastStreamID: UInt32)
    }

    public static let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// How the start of a connection's input compares with the client
    /// preface (§3.4).
    public enum PrefaceMatch: Equatable, Sendable {
        /// Every byte so far matches; more are needed.
        case partial
        /// The whole preface is there.
        case complete
        /// A byte differs: an invalid preface.
        case mismatch
    }

    public static func matchPreface(_ input: UnsafeRawBufferPointer) -> PrefaceMatch {
        let available = min(input.count, preface.count)
        for index in 0..<available where input[index] != preface[index] { return .mismatch }
        return available == preface.count ? .complete : .partial
    }

    /// The preface arrived (or did not match: `valid` false).
    public mutating func receivedPreface(valid: Bool) -> FrameResult {
        guard self == .awaitingPreface else { return .ok }
        guard valid else {
            // "Clients and servers MUST treat an invalid connection preface as
            // a connection error of type PROTOCOL_ERROR." (The error path
            // moves the state to closing once the GOAWAY is written.)
            return .connectionError(Rejection(.badPreface, "invalid connection preface"))
        }
        self = .awaitingSettings
        return .ok
    }

    /// A frame of `type` arrived; checks it is allowed now.
    public mutating func receivedFrame(_ type: FrameType, ack: Bool) -> FrameResult {
        switch self {
        case .awaitingPreface:
            return .connectionError(Rejection(.badPreface, "frame before the connection preface"))
        case .awaitingSettings:
            // "The client connection preface ... MUST be followed by a SETTINGS
            // frame" (§3.4): the first frame must be a SETTINGS without ACK.
            guard type == .settings && !ack else {
                return .connectionError(Rejection(.prefaceWithoutSettings, "the first frame after the preface must be SETTINGS, got \(type)"))
            }
            self = .active
            return .ok
        case .active, .draining:
            return .ok
        case .closing, .closed:
            return .ignore
        }
    }

    /// Whether a new stream may start (§6.8: after GOAWAY, "the sender will
    /// ignore frames sent by the receiver ... with identifiers higher than
    /// the included last stream identifier").
    public func acceptsNewStream(_ id: UInt32) -> Bool {
        switch self {
        case .active, .draining(.announced): return true
        case .draining(.final(let lastStreamID)): return id <= lastStreamID
        default: return false
        }
    }

    /// Starts a graceful shutdown; false if one is already under way or the
    /// connection is closing.
    public mutating func beginDraining() -> Bool {
        guard self == .active else { return false }
        self = .draining(.announced)
        return true
    }

    /// The final GOAWAY of a graceful shutdown goes out.
    public mutating func finishDraining(lastStreamID: UInt32) {
        if case .draining = self { self = .draining(.final(lastStreamID: lastStreamID)) }
    }

    /// A connection error: the GOAWAY goes out, then the socket closes.
    public mutating func fail() { if self != .closed { self = .closing } }

    public mutating func close() { self = .closed }

    public var isReading: Bool {
        switch self {
        case .closing, .closed: false
        default: true
        }
    }
}
