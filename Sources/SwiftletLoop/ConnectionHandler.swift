/// What a connection tells its owner. Every callback runs on the loop thread.
///
/// A handler sees, in order: `connectionDidConnect` (outbound connections
/// only), any number of `connectionDidReceive` / `connectionWritabilityDidChange`,
/// at most one `connectionDidReceiveEOF`, and exactly one
/// `connectionDidClose`, after which the connection forgets the handler.
public protocol ConnectionHandler: AnyObject {
    /// An outbound connection finished connecting.
    func connectionDidConnect(_ connection: Connection)
    /// New bytes are in `connection.input`. Consume what you can with
    /// `connection.consume(_:)`; what you leave stays for the next call, in
    /// place, with later bytes appended after it.
    func connectionDidReceive(_ connection: Connection)
    /// The peer will send nothing more (FIN). The default closes the
    /// connection after flushing what is queued.
    func connectionDidReceiveEOF(_ connection: Connection)
    /// `connection.isWritable` changed: queued output fell to the low
    /// watermark after having exceeded the high watermark.
    func connectionWritabilityDidChange(_ connection: Connection)
    /// The end of the turn is near and `connection.requestWillFlush()` was
    /// called: write what should go out in this turn's flush (a protocol
    /// generates flow-controlled data here, after the turn's control frames).
    func connectionWillFlush(_ connection: Connection)
    /// The connection is closed; called exactly once.
    func connectionDidClose(_ connection: Connection, reason: CloseReason)
}

extension ConnectionHandler {
    public func connectionDidConnect(_ connection: Connection) {}
    public func connectionDidReceiveEOF(_ connection: Connection) { connection.close() }
    public func connectionWritabilityDidChange(_ connection: Connection) {}
    public func connectionWillFlush(_ connection: Connection) {}
}

/// Why a connection closed.
public enum CloseReason: Equatable, Sendable, CustomStringConvertible {
    /// `close()` was called before the peer closed its side.
    case local
    /// The peer closed its side (FIN) and then the connection was closed.
    case peerClosed
    /// The peer reset the connection, or it broke (ECONNRESET, EPIPE).
    case reset
    /// A system call failed.
    case failed(SystemError)
    /// The handler left a full receive ring unconsumed: the peer sent a unit
    /// larger than the ring (a protocol violation the handler should have
    /// caught first).
    case receiveBufferFull
    /// An outbound connect failed.
    case connectFailed(SystemError)
    /// The transport (TLS) failed: a bad handshake, a decryption error.
    case transportFailed(String)
    /// The loop was closed with the connection still open.
    case loopClosed

    public var description: String {
        switch self {
        case .local: "closed locally"
        case .peerClosed: "closed by peer"
        case .reset: "reset by peer"
        case .failed(let error): "failed: \(error)"
        case .receiveBufferFull: "receive buffer full"
        case .connectFailed(let error): "connect failed: \(error)"
        case .transportFailed(let reason): "TLS failed: \(reason)"
        case .loopClosed: "loop closed"
        }
    }
}

/// How `Connection.close(_:)` ends a connection.
public enum CloseMode: Sendable {
    /// Write everything queued, send FIN, then keep reading and discarding
    /// until the peer's FIN or the loop's linger timeout, so that unread
    /// input does not turn the close into a reset that could destroy the
    /// last bytes we sent (GOAWAY, an error response).
    case afterFlush
    /// Stop reading at once, write everything queued, send FIN, then wait
    /// up to the loop's linger timeout without reading (the peer has that
    /// long to read our last bytes before the close). For a connection
    /// closed because of the peer's misbehaviour: whatever it keeps sending
    /// (a flood after the GOAWAY) costs no more CPU; unread input turns the
    /// final close into a reset.
    case afterFlushIgnoringInput
    /// Drop queued output and close now.
    case immediately
    /// Drop queued output and reset the connection (RST).
    case reset
}
