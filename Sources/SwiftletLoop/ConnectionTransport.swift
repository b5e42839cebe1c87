/// A layer between the socket and a connection's plaintext: TLS.
///
/// With a transport installed, the backend receives wire bytes into a
/// second ring, and the connection asks the transport to turn them into
/// plaintext in the ring its handler reads (`receive`). Handlers queue
/// plaintext as usual; at flush time the connection asks the transport to
/// turn it into wire bytes (`encrypt`), appended to the wire queue given at
/// `attach`, which the backend sends. Records and handshake messages the
/// transport produces on its own (while receiving, or at `shutdown`) go to
/// the same wire queue.
public protocol ConnectionTransport: AnyObject {
    /// Called once, when installed: where wire bytes for the socket go.
    func attach(wire: SendQueue)
    /// Consumes what it can of `wire` (received bytes), writing plaintext
    /// into the free span of `plaintext`. A transport whose records can be
    /// as large as the wire ring must consume (buffer) partial records, or a
    /// full ring holding part of one record would never drain.
    func receive(_ wire: UnsafeRawBufferPointer, into plaintext: ReceiveRing) -> TransportEvent
    /// Whether plaintext is held inside the transport (a record decrypted
    /// when the plaintext ring had no room for all of it): `receive` is
    /// called again, even with no new wire bytes, once the ring has room.
    var hasPendingPlaintext: Bool { get }
    /// Turns queued plaintext into wire bytes, advancing `plaintext`.
    func encrypt(_ plaintext: SendQueue)
    /// Appends the transport's closing message (TLS close_notify).
    func shutdown()
    /// The protocol version and cipher suite in use, for logs (TLS:
    /// "TLSv1.3", "TLS_AES_128_GCM_SHA256"); nil before the handshake.
    var securityDescription: (version: String, cipher: String)? { get }
}

extension ConnectionTransport {
    public var securityDescription: (version: String, cipher: String)? { nil }
}

/// What `ConnectionTransport.receive` did.
public struct TransportEvent: Equatable, Sendable {
    public enum Status: Equatable, Sendable {
        /// Carry on (more wire bytes may be needed).
        case ok
        /// The handshake finished in this call.
        case established
        /// The peer closed the transport (TLS close_notify).
        case closed
        /// The transport failed (a bad handshake, a decryption error).
        case failed(String)
    }

    /// Wire bytes consumed.
    public var consumed: Int
    /// Plaintext bytes written.
    public var produced: Int
    public var status: Status

    public init(consumed: Int, produced: Int, status: Status) {
        self.consumed = consumed
        self.produced = produced
        self.status = status
    }
}
