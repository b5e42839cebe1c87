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

    /// What a shutdown, a peer's GOAWAY or the last stream closing asks of
    /// the connection (the engine carries it out in `perform`).
    public enum Action: Equatable, Sendable {
        case none
        /// GOAWAY(2^31-1, NO_ERROR) and a PING; the final GOAWAY follows
        /// when the PING returns or a timeout passes (§6.8: "A server that is
        /// attempting to gracefully shut down a connection SHOULD send an
        /// initial GOAWAY frame with the last stream identifier set to
        /// 2^31-1 and a NO_ERROR code ... After allowing time for any
        /// in-flight stream creation (at least one round-trip time), the
        /// server MAY send another GOAWAY frame with an updated last stream
        /// identifier").
        case announceShutdown
        /// GOAWAY(`lastStreamID`, NO_ERROR, `reason`), then close once it is
        /// written if `thenClose`.
        case goAway(lastStreamID: UInt32, reason: String, thenClose: Bool)
        /// Close once the queued output is written.
        case close
        /// End every open stream, then close.
        case abandonStreams
        /// Nothing is open: the idle timeout runs.
        case armIdleTimer
    }

    /// The server starts a graceful shutdown. Before any stream (preface or
    /// SETTINGS still awaited) it says so at once, with last stream 0, so
    /// the client knows nothing was processed and may retry elsewhere.
    public mutating func beginShutdown() -> Action {
        switch self {
        case .active:
            self = .draining(.announced)
            return .announceShutdown
        case .awaitingPreface, .awaitingSettings:
            self = .closed
            return .goAway(lastStreamID: 0, reason: "shutting down", thenClose: true)
        case .draining, .closing, .closed:
            return .none
        }
    }

    /// The shutdown's PING came back, or its timeout passed: the final
    /// GOAWAY names the last stream that started; the connection closes
    /// now if none is open, else when the last one ends.
    public mutating func finishShutdown(lastStreamID: UInt32, streamsOpen: Bool) -> Action {
        guard case .draining(.announced) = self else { return .none }
        self = streamsOpen ? .draining(.final(lastStreamID: lastStreamID)) : .closed
        return .goAway(lastStreamID: lastStreamID, reason: "", thenClose: !streamsOpen)
    }

    /// The client sent GOAWAY (§6.8): it opens no more streams. With
    /// NO_ERROR the open ones finish first; with an error code the client
    /// is going away and they end now.
    public mutating func receivedGoAway(code: ErrorCode, lastStreamID: UInt32, streamsOpen: Bool) -> Action {
        guard isReading else { return .none }
        guard code == .noError else {
            self = .closing
            return .abandonStreams
        }
        guard streamsOpen else {
            self = .closed
            return .close
        }
        self = .draining(.final(lastStreamID: lastStreamID))
        return .none
    }

    /// The last open stream ended: a draining connection is done; a
    /// serving one waits for the next request, within the idle timeout.
    public mutating func lastStreamClosed() -> Action {
        switch self {
        case .draining(.final):
            self = .closed
            return .close
        case .active, .awaitingSettings:
            return .armIdleTimer
        default:
            return .none
        }
    }

    /// The idle timeout passed: a connection with no stream open that is
    /// still serving says goodbye (GOAWAY NO_ERROR naming the last stream it
    /// processed) and closes.
    public mutating func idleTimedOut(lastStreamID: UInt32, streamsOpen: Bool) -> Action {
        guard !streamsOpen && (self == .active || self == .awaitingSettings) else { return .none }
        self = .closing
        return .goAway(lastStreamID: lastStreamID, reason: "idle timeout", thenClose: true)
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
