/// The state of one stream, server side (RFC 9113 §5.1). A server that does
/// not push never enters the reserved states, so they are absent.
///
///                                  +--------+
///                          send PP |        | recv PP
///                         ,--------+  idle  +--------.
///                        /         |        |         \
///                       v          +--------+          v
///                +----------+          |           +----------+
///                |          |          | send H /  |          |
///         ,------+ reserved |          | recv H    | reserved +------.
///         |      | (local)  |          |           | (remote) |      |
///         |      +---+------+          v           +------+---+      |
///         |          |             +--------+             |          |
///         |          |     recv ES |        | send ES     |          |
///         |   send H |     ,-------+  open  +-------.     | recv H   |
///         |          |    /        |        |        \    |          |
///         |          v   v         +---+----+         v   v          |
///         |      +----------+          |           +----------+      |
///         |      |   half-  |          |           |   half-  |      |
///         |      |  closed  |          | send R /  |  closed  |      |
///         |      | (remote) |          | recv R    | (local)  |      |
///         |      +----+-----+          |           +-----+----+      |
///         |           |                |                 |           |
///         |           | send ES /      |       recv ES / |           |
///         |           |  send R /      v        send R / |           |
///         |           |  recv R    +--------+   recv R   |           |
///         | send R /  `----------->|        |<-----------'  send R / |
///         | recv R                 | closed |               recv R   |
///         `----------------------->|        |<-----------------------'
///                                  +--------+
///
/// (H: HEADERS, ES: END_STREAM flag, R: RST_STREAM, PP: PUSH_PROMISE.)
/// The state changes only through `apply(_:)`, which returns what the
/// connection must do about the event.
public enum StreamState: Equatable, Sendable {
    case idle
    /// Both sides may send. `requestHeadReceived`: a further HEADERS is trailers.
    case open
    /// The client finished its request; we may still send.
    case halfClosedRemote
    /// We finished our response; the client may still send.
    case halfClosedLocal
    case closed(ClosedBy)

    public enum ClosedBy: Equatable, Sendable {
        /// Both sides sent END_STREAM.
        case endStream
        /// The peer sent RST_STREAM.
        case peerReset
        /// We sent RST_STREAM.
        case localReset
    }

    public enum Event: Equatable, Sendable {
        case receiveHeaders(endStream: Bool)
        case receiveData(endStream: Bool)
        case receiveReset
        case sendHeaders(endStream: Bool)
        case sendData(endStream: Bool)
        case sendReset
        /// The connection ends (GOAWAY, EOF, transport closed): the stream
        /// closes without a frame of its own.
        case connectionClosed
    }

    public enum Transition: Equatable, Sendable {
        case ok
        /// Drop the frame silently.
        case ignore
        case streamError(Rejection)
        case connectionError(Rejection)
    }

    /// Applies `event`, returning what to do; the state changes only on `.ok`.
    public mutating func apply(_ event: Event) -> Transition {
        switch (self, event) {
        // idle
        case (.idle, .receiveHeaders(let endStream)):
            self = endStream ? .halfClosedRemote : .open
            return .ok
        case (.idle, .receiveData), (.idle, .receiveReset):
            // "Receiving any frame other than HEADERS or PRIORITY on a stream
            // in this state MUST be treated as a connection error of type
            // PROTOCOL_ERROR."
            return .connectionError(Rejection(.frameOnIdleStream, "\(event) on an idle stream"))

        // open
        case (.open, .receiveHeaders(let endStream)):
            // A second HEADERS is trailers, which must end the stream (§8.1).
            guard endStream else {
                return .streamError(Rejection(.trailersWithoutEndStream, "trailing HEADERS without END_STREAM"))
            }
            self = .halfClosedRemote
            return .ok
        case (.open, .receiveData(let endStream)):
            if endStream { self = .halfClosedRemote }
            return .ok
        case (.open, .sendHeaders(let endStream)), (.open, .sendData(let endStream)):
            if endStream { self = .halfClosedLocal }
            return .ok

        // half-closed (remote)
        case (.halfClosedRemote, .receiveHeaders), (.halfClosedRemote, .receiveData):
            // "If an endpoint receives additional frames, other than
            // WINDOW_UPDATE, PRIORITY, or RST_STREAM, for a stream that is in
            // this state, it MUST respond with a stream error of type STREAM_CLOSED."
            return .streamError(Rejection(.frameOnHalfClosedStream, "\(event) after the client's END_STREAM"))
        case (.halfClosedRemote, .sendHeaders(let endStream)), (.halfClosedRemote, .sendData(let endStream)):
            if endStream { self = .closed(.endStream) }
            return .ok

        // half-closed (local)
        case (.halfClosedLocal, .receiveHeaders(let endStream)):
            guard endStream else {
                return .streamError(Rejection(.trailersWithoutEndStream, "trailing HEADERS without END_STREAM"))
            }
            self = .closed(.endStream)
            return .ok
        case (.halfClosedLocal, .receiveData(let endStream)):
            if endStream { self = .closed(.endStream) }
            return .ok
        case (.halfClosedLocal, .sendHeaders), (.halfClosedLocal, .sendData):
            return .streamError(Rejection(.sendAfterEndStream, "tried to send after END_STREAM"))

        // closed
        case (.closed(.localReset), .receiveHeaders), (.closed(.localReset), .receiveData):
            // "An endpoint MUST ignore frames that it receives on closed
            // streams after it has sent a RST_STREAM frame."
            return .ignore
        case (.closed, .receiveData):
            // "An endpoint MAY treat receipt of any other type of frame on a
            // closed stream as a connection error of type STREAM_CLOSED":
            // for DATA, the stream error half-closed (remote) prescribes is
            // enough (the frame's window is credited back).
            return .streamError(Rejection(.dataOnClosedStream, "DATA on a closed stream"))
        case (.closed, .receiveHeaders):
            // The same sentence, taken at its word: a peer that opens a stream
            // it already ended or reset is confused about the whole connection.
            return .connectionError(Rejection(.headersOnClosedStream, "HEADERS on a closed stream"))
        case (.closed, .receiveReset):
            return .ignore
        case (.closed, .sendHeaders), (.closed, .sendData), (.closed, .sendReset):
            return .ignore

        // the connection ends
        case (.closed, .connectionClosed):
            return .ignore
        case (_, .connectionClosed):
            self = .closed(.localReset)
            return .ok

        // resets
        case (_, .receiveReset):
            self = .closed(.peerReset)
            return .ok
        case (.idle, .sendReset):
            return .ignore
        case (_, .sendReset):
            self = .closed(.localReset)
            return .ok
        case (.idle, .sendHeaders), (.idle, .sendData):
            return .streamError(Rejection(.sendOnIdleStream, "tried to send on an idle stream"))
        }
    }

    /// What `apply(event)` would return, without changing the state: lets
    /// a receiver judge a frame's other rules in the state before it, then
    /// `enter` the event.
    public func admits(_ event: Event) -> Transition {
        var copy = self
        return copy.apply(event)
    }

    /// Applies an event `admits` returned `.ok` for.
    public mutating func enter(_ event: Event) {
        let transition = apply(event)
        assert(transition == .ok, "entered \(event) in \(self), which does not admit it: \(transition)")
    }

    public var isClosed: Bool {
        if case .closed = self { return true }
        return false
    }

    /// The peer can still send DATA.
    public var canReceive: Bool { self == .open || self == .halfClosedLocal }
    /// We can still send.
    public var canSend: Bool { self == .open || self == .halfClosedRemote }
}

/// The last few streams that closed, and how: frames that arrive for them
/// after they left the stream table get the reaction §5.1 prescribes.
///
/// The last 64, inline (272 bytes in the connection's own memory, no
/// allocation of their own): the ids, and how each closed in two bits.
struct RecentlyClosedStreams {
    static let capacity = 64
    private var ids = InlineArray<64, UInt32>(repeating: 0)
    /// Two bits per entry, entry `i` at bits `2 × (i % 32)` of word `i / 32`.
    private var how = InlineArray<2, UInt64>(repeating: 0)
    private var next = 0

    mutating func record(_ id: UInt32, _ closedBy: StreamState.ClosedBy) {
        ids[next] = id
        let shift = UInt64(2 * (next & 31))
        how[next >> 5] = how[next >> 5] & ~(3 << shift) | Self.code(closedBy) << shift
        next = (next + 1) % Self.capacity
    }

    func lookup(_ id: UInt32) -> StreamState.ClosedBy? {
        for index in 0..<Self.capacity where ids[index] == id && id != 0 {
            return Self.closedBy(how[index >> 5] >> UInt64(2 * (index & 31)) & 3)
        }
        return nil
    }

    private static func code(_ closedBy: StreamState.ClosedBy) -> UInt64 {
        switch closedBy {
        case .endStream: 0
        case .peerReset: 1
        case .localReset: 2
        }
    }

    private static func closedBy(_ code: UInt64) -> StreamState.ClosedBy {
        switch code {
        case 1: .peerReset
        case 2: .localReset
        default: .endStream
        }
    }
}

extension FrameResult {
    /// What a §5.1 transition means for a frame on stream `streamID`.
    init(_ transition: StreamState.Transition, streamID: UInt32) {
        switch transition {
        case .ok: self = .ok
        case .ignore: self = .ignore
        case .streamError(let rejection): self = .streamError(streamID, rejection)
        case .connectionError(let rejection): self = .connectionError(rejection)
        }
    }
}
