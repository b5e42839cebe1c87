import Logging
import SwiftletHTTP
import SwiftletLoop

/// An `HTTP2Engine` on a loop `Connection`: the loop's callbacks become the
/// engine's inputs (received bytes in place from the receive ring, EOF,
/// writability, the end of the turn) and the connection is its transport.
/// The protocol itself is all in the engine.
///
/// Loop-confined. Install with `HTTP2Connection.start(on:handler:...)` from a
/// listener's accept callback.
public final class HTTP2Connection: ConnectionHandler, ServedConnection {
    /// The loop connection this HTTP/2 connection runs on.
    public let connection: Connection
    /// The protocol engine.
    public let engine: HTTP2Engine
    private var closeObserver: ((any ServedConnection) -> Void)?

    /// Runs once when the connection closes (servers use it to forget it).
    public var onClose: ((any ServedConnection) -> Void)? {
        get { closeObserver }
        set { closeObserver = newValue }
    }

    init(connection: Connection, engine: HTTP2Engine) {
        self.connection = connection
        self.engine = engine
    }

    /// Makes `connection` an HTTP/2 connection served by `handler`: sends the
    /// server preface (SETTINGS) and waits for the client's. Connections of
    /// one loop should share one `streamPool` (the server does).
    @discardableResult
    public static func start(on connection: Connection, handler: any HTTPHandler,
                             configuration: HTTP2Configuration = HTTP2Configuration(),
                             counters: HTTP2Counters = HTTP2Counters(),
                             streamPool: HTTP2StreamPool? = nil,
                             logger: Logger = Logger(label: "swiftlet.http2")) -> HTTP2Connection {
        let engine = HTTP2Engine(transport: connection, handler: handler, configuration: configuration,
                                 counters: counters, streamPool: streamPool, logger: logger)
        let http2 = HTTP2Connection(connection: connection, engine: engine)
        connection.handler = http2
        engine.start()
        return http2
    }

    /// Open streams (for tests and statistics).
    public var openStreamCount: Int { engine.openStreamCount }

    /// Whether the connection is still serving (not failed or closed).
    public var isActive: Bool { engine.isActive }

    /// Starts a graceful shutdown (§6.8); see `HTTP2Engine.beginGracefulShutdown`.
    public func beginGracefulShutdown() { engine.beginGracefulShutdown() }

    public func shutDownGracefully() { beginGracefulShutdown() }

    /// Ends the connection with a connection error decided outside the frame
    /// layer (INADEQUATE_SECURITY for a prohibited TLS 1.2 cipher suite).
    public func refuse(_ rejection: Rejection) { engine.refuse(rejection) }

    // MARK: ConnectionHandler

    public func connectionDidReceive(_ connection: Connection) {
        let used = engine.receive(connection.input)
        if connection.isOpen { connection.consume(used) }
    }

    public func connectionWillFlush(_ connection: Connection) {
        engine.produceOutput()
    }

    public func connectionWritabilityDidChange(_ connection: Connection) {
        engine.transportBecameWritable()
    }

    public func connectionDidReceiveEOF(_ connection: Connection) {
        engine.transportReceivedEOF()
    }

    public func connectionDidClose(_ connection: Connection, reason: CloseReason) {
        engine.transportClosed()
        let observer = closeObserver
        closeObserver = nil
        observer?(self)
    }
}
