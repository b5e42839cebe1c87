import Glibc
import Logging
import SwiftletHTTP
import SwiftletHTTP1
import SwiftletHTTP2
import SwiftletLoop
import SwiftletTLS

/// A server: N loop threads listening on one port, each serving HTTP/2 (and
/// HTTP/1.1) connections with its own handler.
///
///     let server = Server(configuration: configuration) { loop in
///         try StaticFileHandler(configuration: files, loop: loop)
///     }
///     try server.start()
///     print("listening on port \(server.port)")
///     server.waitUntilStopped()
///
/// `makeHandler` runs once per loop, on that loop's thread. `start`,
/// `beginGracefulShutdown`, `stop` and `waitUntilStopped` may be called from
/// any thread.
public final class Server: @unchecked Sendable {  // mutable state behind `state`
    public let configuration: ServerConfiguration
    let makeHandler: @Sendable (EventLoop) throws -> any HTTPHandler
    let logger: Logger
    private struct State {
        var threads: [EventLoopThread] = []
        var contexts: [LoopContextBox] = []
        var localAddresses: [SocketAddress] = []
        /// Unix socket files this server created, removed when it stops.
        var socketFiles: [UnixSocketFile] = []
        var backend: EventLoop.BackendKind = .epoll
        var backendReason = ""
    }
    private let state = Locked(State())
    let accessLog: AccessLogWriter?
    let metrics: ServerMetrics?
    /// The certificates, when serving TLS.
    public let tls: TLSContext?

    /// Loads the certificates (if `configuration.tls` is set) and opens the
    /// access log. Throws `TLSConfigurationError` naming a certificate or key
    /// file that cannot be used.
    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "swiftlet"),
                makeHandler: @escaping @Sendable (EventLoop) throws -> any HTTPHandler) throws {
        self.configuration = configuration
        self.logger = logger
        self.makeHandler = makeHandler
        tls = try configuration.tls.map { try TLSContext(configuration: $0) }
        accessLog = configuration.accessLog == .off ? nil : try AccessLogWriter(destination: configuration.accessLog)
        metrics = ServerMetrics.resolve(configuration.metricsFactory)
    }

    /// Whether `start()` ran (and succeeded).
    public var isStarted: Bool { state.withLock { !$0.threads.isEmpty } }

    /// The port of the first TCP address listened on (the real one when 0
    /// was asked for); 0 when there is no TCP address.
    public var port: UInt16 { state.withLock { $0.localAddresses.first { !$0.isUnix }?.port ?? 0 } }
    /// Every address listened on, in the order of `configuration.listen`
    /// (systemd's sockets where `.systemd` stands), with real ports.
    public var localAddresses: [SocketAddress] { state.withLock { $0.localAddresses } }
    /// The backend the loops use.
    public var backend: EventLoop.BackendKind { state.withLock { $0.backend } }
    /// Why that backend (the `.auto` decision).
    public var backendReason: String { state.withLock { $0.backendReason } }

    /// Starts the loops and listens on every address of
    /// `configuration.listen`. Throws if an address cannot be bound (the
    /// error names it) or a handler cannot be made.
    public func start() throws {
        let plan = try ListenPlan(configuration.listen, backlog: configuration.backlog)
        var planned = plan.entries
        defer { plan.closeSharedSockets() }
        var loopConfiguration = configuration.loop
        loopConfiguration.backend = configuration.backend
        let options = ListenOptions(backlog: configuration.backlog, reusePort: configuration.loops > 1)
        do {
            for index in 0..<max(1, configuration.loops) {
                let box = LoopContextBox()
                let configuration = self.configuration
                let makeHandler = self.makeHandler
                let accessLog = self.accessLog
                let tls = self.tls
                let logger = self.logger
                let metrics = self.metrics
                let entries = planned
                let thread = try EventLoopThread(configuration: loopConfiguration, logger: logger, name: "swiftlet-loop-\(index)") { loop in
                    let handler = try makeHandler(loop)
                    var served: any HTTPHandler = accessLog.map { AccessLogHandler(wrapping: handler, writer: $0, loop: loop, format: configuration.accessLogFormat,
                                                                                     trustedProxies: configuration.trustedProxies) } ?? handler
                    let loopMetrics = metrics.map { LoopMetrics(metrics: $0, loop: loop, interval: configuration.metricsInterval) }
                    if let loopMetrics { served = MetricsHandler(wrapping: served, counts: loopMetrics) }
                    let context = LoopContext(loop: loop, handler: served, configuration: configuration, tls: tls, logger: logger)
                    context.metrics = loopMetrics
                    loopMetrics?.context = context
                    for entry in entries {
                        switch entry {
                        case .tcp(let address): try context.listen(on: address, options: options)
                        case .shared(let socket): try context.listen(on: socket)
                        }
                    }
                    box.context = context  // only a context that started leaves the loop thread
                }
                state.withLock {
                    $0.threads.append(thread)
                    $0.contexts.append(box)
                }
                if index == 0 {
                    // Port 0 picked a port: the other loops join it there.
                    let bound = box.localAddresses
                    planned = plan.entries(boundAt: bound)
                    state.withLock { state in
                        state.localAddresses = bound
                        state.backend = thread.loop.backendKind
                        state.backendReason = thread.loop.backendReason
                        state.socketFiles = plan.socketFiles
                    }
                }
            }
        } catch {
            // Loops that did start stop again: a failed start leaves nothing.
            stop()
            waitUntilStopped()
            state.withLock { state in
                state.threads = []
                state.contexts = []
                state.localAddresses = []
            }
            plan.removeSocketFiles()
            throw error
        }
    }

    /// Stops accepting, sends every connection a graceful GOAWAY, lets
    /// in-flight responses finish within `gracefulTimeout`, then stops the
    /// loops. Returns at once; `waitUntilStopped` waits.
    ///
    /// Unix socket files are removed at once (a new instance may bind the
    /// path while this one drains).
    public func beginGracefulShutdown() {
        let timeout = configuration.gracefulTimeout
        removeSocketFiles()
        for box in state.withLock({ $0.contexts }) {
            box.loop?.execute { box.context?.drain(timeout: timeout) }
        }
    }

    /// Stops the loops now (open connections are closed).
    public func stop() {
        removeSocketFiles()
        for thread in state.withLock({ $0.threads }) { thread.loop.stop() }
    }

    /// Waits until every loop stopped (after `beginGracefulShutdown` or
    /// `stop`), then releases them.
    public func waitUntilStopped() {
        for thread in state.withLock({ $0.threads }) { thread.join() }
        accessLog?.close()
    }

    /// Removes the Unix socket files this server created, if they are
    /// still the ones it created.
    private func removeSocketFiles() {
        let files = state.withLock { state in
            defer { state.socketFiles = [] }
            return state.socketFiles
        }
        for file in files { file.remove() }
    }

    /// Reopens the access log file (call on SIGUSR1).
    public func reopenAccessLog() { accessLog?.reopen() }

    /// Loads the certificate and key files again and uses them for new
    /// connections (call on SIGHUP); open connections keep theirs. On error
    /// the old certificates stay in use and the error names the file.
    public func reloadCertificates() throws {
        try tls?.reload()
    }

    /// HTTP/2 counters of every loop, summed (rejections by token).
    public func rejectionCounts() -> [String: Int] {
        var total: [String: Int] = [:]
        for box in state.withLock({ $0.contexts }) {
            let counts = Completion<[String: Int]>()
            guard let loop = box.loop else { continue }
            loop.execute {
                guard let context = box.context else { return counts.fulfill([:]) }
                counts.fulfill(context.counters.rejections
                    .merging(context.http1Counters.rejections, uniquingKeysWith: +)
                    .merging(context.transportRejections, uniquingKeysWith: +))
            }
            for (token, count) in counts.wait() { total[token, default: 0] += count }
        }
        return total
    }
}

/// Lets a loop's context be reached from other threads only through its loop.
final class LoopContextBox: @unchecked Sendable {
    /// Set on the loop thread during set-up, then only read on it.
    var context: LoopContext?
    var loop: EventLoop? { context?.loop }
    var localAddresses: [SocketAddress] { context?.listeners.map(\.localAddress) ?? [] }
}

/// The per-loop side of a server: the listener, the handler, the open
/// connections. Loop-confined.
final class LoopContext {
    let loop: EventLoop
    let handler: any HTTPHandler
    let configuration: ServerConfiguration
    let counters = HTTP2Counters()
    /// Spare HTTP/2 streams, shared by this loop's connections.
    let streamPool: HTTP2StreamPool
    let http1Counters = HTTP1Counters()
    let http1Secure: HTTP1Configuration
    let tls: TLSContext?
    let logger: Logger
    /// Connections closed before a protocol was chosen, by token.
    var transportRejections: [String: Int] = [:]
    var listeners: [Listener] = []
    /// Connections a protocol serves (HTTP/2 and HTTP/1.1 alike).
    var served: [ObjectIdentifier: any ServedConnection] = [:]
    /// Connections still choosing a protocol (TLS handshake, first bytes).
    var selecting = 0
    /// Counts for the metrics backend, when there is one.
    var metrics: LoopMetrics?
    var draining = false

    init(loop: EventLoop, handler: any HTTPHandler, configuration: ServerConfiguration, tls: TLSContext?, logger: Logger) {
        self.loop = loop
        streamPool = HTTP2StreamPool(bufferPool: loop.bufferPool)
        self.handler = handler
        self.configuration = configuration
        self.tls = tls
        self.logger = logger
        var secure = configuration.http1
        secure.scheme = "https"
        http1Secure = secure
    }

    func listen(on address: SocketAddress, options: ListenOptions) throws {
        listeners.append(try loop.listen(on: address, options: options) { [unowned self] in accepted($0) })
    }

    func listen(on socket: ListeningSocket) throws {
        listeners.append(try loop.listen(on: socket) { [unowned self] in accepted($0) })
    }

    /// A new connection: first its PROXY header, when the server expects
    /// one (`ProxyHeaderReader` calls back with `afterPreamble`), then TLS,
    /// then the protocol selector. Input already received after the
    /// preamble is handed on.
    func accepted(_ connection: Connection, afterPreamble: Bool = false) {
        if !afterPreamble {
            metrics?.accepted += 1
            if configuration.proxyProtocol {
                connection.handler = ProxyHeaderReader(context: self, connection: connection, timeout: configuration.http1.headTimeout)
                return
            }
        }
        guard let tls else {
            let selector = ProtocolSelector(context: self, connection: connection, session: nil,
                                            timeout: configuration.http1.headTimeout)
            connection.handler = selector
            if afterPreamble && !connection.input.isEmpty { connection.redeliverInput() }
            return
        }
        guard let session = tls.makeSession() else {
            countTransportRejection("tls_session_failed")
            connection.close(.immediately)
            return
        }
        connection.install(transport: session)
        connection.handler = ProtocolSelector(context: self, connection: connection, session: session,
                                              timeout: tls.configuration.handshakeTimeout)
    }

    func countTransportRejection(_ token: String) {
        transportRejections[token, default: 0] += 1
    }

    func startHTTP2(on connection: Connection) -> HTTP2Connection {
        // The server's logger, not one made per connection: making a
        // `Logger` asks the logging backend for a handler, three heap
        // allocations for every connection.
        let http2 = HTTP2Connection.start(on: connection, handler: handler, configuration: configuration.http2, counters: counters,
                                          streamPool: streamPool, logger: logger)
        serve(http2)
        if draining { http2.shutDownGracefully() }
        return http2
    }

    /// Keeps `connection` until it closes.
    private func serve(_ connection: any ServedConnection) {
        served[ObjectIdentifier(connection)] = connection
        connection.onClose = forgetClosed
    }

    /// What every served connection calls when it closes: one closure for
    /// all of them (a closure made per connection is an allocation each).
    private lazy var forgetClosed: (any ServedConnection) -> Void = { [unowned self] closed in
        served[ObjectIdentifier(closed)] = nil
        stopIfDrained()
    }

    func startHTTP1(on connection: Connection, secure: Bool) {
        let http1 = HTTP1Connection.start(on: connection, handler: handler,
                                          configuration: secure ? http1Secure : configuration.http1, counters: http1Counters,
                                          logger: logger)
        serve(http1)
        http1.connectionDidReceive(connection)
        if draining { http1.shutDownGracefully() }
    }

    /// A connection started or stopped choosing its protocol.
    func selectorStarted() { selecting += 1 }
    func selectorEnded() {
        selecting -= 1
        stopIfDrained()
    }

    /// Graceful shutdown of this loop.
    func drain(timeout: Duration) {
        guard !draining else { return }
        draining = true
        for listener in listeners { listener.close() }
        for connection in served.values { connection.shutDownGracefully() }
        if !stopIfDrained() {
            loop.timers.schedule(at: loop.now &+ timeout.nanoseconds) { [loop] in loop.stop() }
        }
    }

    @discardableResult
    func stopIfDrained() -> Bool {
        // Connections still in their TLS handshake or waiting for their
        // first bytes count too: stopping now would close them without a
        // word; once they pick a protocol they get its graceful close.
        guard draining, served.isEmpty, selecting == 0 else { return false }
        loop.stop()
        return true
    }
}
