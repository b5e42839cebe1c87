import GRPCCore
import HTTPTypes
import Logging
import SwiftletHTTP
import SwiftletLoop
import SwiftletServer
import Synchronization

/// A grpc-swift 2 server transport on Swiftlet: any grpc-swift service runs
/// on Swiftlet's loops, over h2c or TLS (ALPN h2).
///
///     let transport = try SwiftletGRPCServerTransport(configuration: .init(server: serverConfiguration))
///     let server = GRPCServer(transport: transport, services: [EchoService()])
///     try await server.serve()
///
/// Each RPC is one HTTP/2 stream served by Swiftlet's async handler API
/// (`GRPCServerCall`): request metadata from the head (`-bin` values
/// base64-decoded), messages deframed from the body as the service reads
/// them (so flow control holds a client the service does not keep up
/// with), response metadata in the head, messages framed into DATA, the
/// status in trailers (or a Trailers-Only head for an RPC that fails
/// first). A client's RST_STREAM cancels the RPC; `grpc-timeout` deadlines
/// are enforced by grpc-swift's server from the metadata. Compression is
/// not negotiated: a compressed message or a `grpc-encoding` other than
/// identity is refused with UNIMPLEMENTED.
public final class SwiftletGRPCServerTransport: ServerTransport {
    public typealias Bytes = [UInt8]

    public struct Configuration: Sendable {
        /// Where and how to listen: addresses, TLS, loops, HTTP/2 limits,
        /// graceful shutdown timeout (Swiftlet's own configuration).
        public var server: ServerConfiguration
        /// The largest request message accepted; a larger one fails its
        /// RPC with RESOURCE_EXHAUSTED before any of it is buffered.
        public var maximumRequestMessageSize: Int

        public init(server: ServerConfiguration = ServerConfiguration(), maximumRequestMessageSize: Int = 4 << 20) {
            self.server = server
            self.maximumRequestMessageSize = maximumRequestMessageSize
        }
    }

    public let configuration: Configuration
    let server: Server
    let state: GRPCTransportState

    public init(configuration: Configuration, logger: Logger = Logger(label: "swiftlet.grpc")) throws {
        self.configuration = configuration
        let state = GRPCTransportState(maximumRequestMessageSize: configuration.maximumRequestMessageSize)
        self.state = state
        server = try Server(configuration: configuration.server, logger: logger) { loop in
            GRPCHandler(loop: loop, state: state)
        }
    }

    /// Binds the listening sockets now (`listen` does it otherwise), so the
    /// port is known (`port`) before the server serves. Requests that come
    /// before `listen` are answered UNAVAILABLE; `waitUntilServing()` tells
    /// when they no longer are.
    public func bind() throws {
        guard !server.isStarted else { return }
        try server.start()
        // ServerContext's format: "<transport>:<address>".
        state.localPeer = server.localAddresses.first.map { address in
            address.isUnix ? address.description : (address.isIPv6 ? "ipv6:" : "ipv4:") + address.description
        } ?? "unknown"
    }

    /// The TCP port it listens on (0 before it is bound).
    public var port: UInt16 { server.port }

    /// The I/O backend its loops run on (known once it is bound).
    public var backend: EventLoop.BackendKind { server.backend }

    /// Returns once `listen` has started: RPCs are served from then on.
    public func waitUntilServing() async {
        await state.waitForHandler()
    }

    public func listen(streamHandler: @escaping @Sendable (RPCStream<Inbound, Outbound>, ServerContext) async -> Void) async throws {
        try bind()
        state.streamHandler = GRPCTransportState.Handler(streamHandler)  // serving from here (`waitUntilServing`)
        await withTaskCancellationHandler {
            await server.stopped()
        } onCancel: {
            server.stop()
        }
    }

    /// No new connections; HTTP/2's two GOAWAYs; RPCs in progress finish
    /// within the server configuration's `gracefulTimeout`, then the rest
    /// are closed and `listen` returns.
    public func beginGracefulShutdown() {
        server.beginGracefulShutdown()
    }
}

/// What the loops' handlers share with the transport.
final class GRPCTransportState: Sendable {
    typealias StreamHandler = @Sendable (RPCStream<SwiftletGRPCServerTransport.Inbound, SwiftletGRPCServerTransport.Outbound>,
                                         ServerContext) async -> Void

    /// grpc-swift's stream handler, boxed: a function value kept in a
    /// generic container (the Mutex) is stored at its most general
    /// representation and converted back on every read, and reading it
    /// once per RPC grew a chain of conversion thunks one link per RPC
    /// (found by `make bench-grpc`: CPU per call rose with every call).
    /// A class reference is read as it is.
    final class Handler: Sendable {
        let call: StreamHandler
        init(_ call: @escaping StreamHandler) { self.call = call }
    }

    let maximumRequestMessageSize: Int
    private let handler = Mutex<(Handler?, waiters: [CheckedContinuation<Void, Never>])>((nil, []))
    private let local = Mutex("unknown")

    init(maximumRequestMessageSize: Int) {
        self.maximumRequestMessageSize = maximumRequestMessageSize
    }

    var streamHandler: Handler? {
        get { handler.withLock { $0.0 } }
        set {
            let waiters = handler.withLock { state in
                state.0 = newValue
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    /// Returns once a stream handler is set.
    func waitForHandler() async {
        await withCheckedContinuation { continuation in
            let ready = handler.withLock { state in
                if state.0 != nil { return true }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    var localPeer: String {
        get { local.withLock { $0 } }
        set { local.withLock { $0 = newValue } }
    }
}

/// The connection an RPC came on, for its `ServerContext` (Swiftlet's
/// async API gives the handler the request, not the exchange).
struct GRPCPeer: Sendable, CustomStringConvertible {
    let protocolName: String
    let address: String

    /// ServerContext's format: "<transport>:<address>".
    var description: String { address.contains(":") ? "ipv6:[\(address)]" : "ipv4:\(address)" }

    @TaskLocal static var current: GRPCPeer?
}

/// Serves a loop's exchanges as RPCs: Swiftlet's async handler, with the
/// connection's peer set as a task-local value its task inherits.
final class GRPCHandler: HTTPHandler {
    let inner: AsyncHTTPHandler

    init(loop: EventLoop, state: GRPCTransportState) {
        inner = AsyncHTTPHandler(loop: loop) { request, body, writer in
            try await GRPCServerCall.serve(request: request, body: body, writer: writer, shared: state)
        }
    }

    func exchangeDidStart(_ exchange: any HTTPExchange) {
        let peer = GRPCPeer(protocolName: exchange.protocolName.description, address: exchange.remoteAddressDescription)
        GRPCPeer.$current.withValue(peer) { inner.exchangeDidStart(exchange) }
    }

    func exchange(_ exchange: any HTTPExchange, didReceiveBody bytes: UnsafeRawBufferPointer) {
        inner.exchange(exchange, didReceiveBody: bytes)
    }

    func exchange(_ exchange: any HTTPExchange, didFinishRequestWith trailers: HTTPFieldList?) {
        inner.exchange(exchange, didFinishRequestWith: trailers)
    }

    func exchangeDidBecomeWritable(_ exchange: any HTTPExchange) { inner.exchangeDidBecomeWritable(exchange) }

    func exchangeDidClose(_ exchange: any HTTPExchange, reason: HTTPExchangeCloseReason) {
        inner.exchangeDidClose(exchange, reason: reason)
    }
}
