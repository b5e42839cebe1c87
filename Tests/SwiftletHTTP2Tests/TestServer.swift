import Glibc
import HTTPTypes
import SwiftletHTTP
import SwiftletHTTP2
import SwiftletLoop
import SwiftletTestSupport

/// Routes for protocol tests; records what it saw in Sendable boxes.
final class TestHandler: HTTPHandler {
    let events = Box<[String]>([])
    let bodies = Box<[UInt32: Int]>([:])
    /// Exchanges the test wants to poke later (by stream id).
    var held: [UInt32: any HTTPExchange] = [:]
    /// A head shared by every response to /shared (`HTTPFieldList.appendShared`).
    let sharedHead: HTTPFieldList = {
        let head = HTTPFieldList()
        head.append("Content-Type", "text/plain")
        head.append("Transfer-Encoding", "chunked")
        head.append("x-shared", "yes")
        return head
    }()
    let payload: UnsafeMutableRawBufferPointer = {
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 64)
        Pattern.fill(bytes)
        return bytes
    }()

    deinit { payload.deallocate() }

    func exchangeDidStart(_ exchange: any HTTPExchange) {
        let path = exchange.request.path
        events.update { $0.append("start \(exchange.streamID) \(exchange.request.method) \(path)") }
        if path == "/hello" {
            exchange.responseFields.append("content-type", "text/plain")
            exchange.sendHead(status: 200, endOfStream: false)
            "hello".utf8CString.withUnsafeBytes { exchange.sendBody(copying: UnsafeRawBufferPointer(rebasing: $0.dropLast()), endOfStream: true) }
        } else if path == "/nobody" {
            exchange.sendHead(status: 204, endOfStream: true)
        } else if path.hasPrefix("/urgent/"), let size = Int(path.dropFirst(8)) {
            // The handler overrides whatever the client asked for.
            exchange.priority = HTTPPriority(urgency: 0, incremental: false)
            exchange.sendHead(status: 200, endOfStream: false)
            exchange.sendBody(borrowing: UnsafeRawBufferPointer(rebasing: payload[0..<size]), owner: nil, release: nil, endOfStream: true)
        } else if path.hasPrefix("/size/"), let size = Int(path.dropFirst(6)) {
            exchange.responseFields.append("content-length", integer: size)
            exchange.sendHead(status: 200, endOfStream: size == 0)
            if size > 0 {
                exchange.sendBody(borrowing: UnsafeRawBufferPointer(rebasing: payload[0..<size]), owner: nil, release: nil, endOfStream: true)
            }
        } else if path == "/echo" || path == "/hold" || path == "/pause" {
            if path == "/echo" { exchange.sendHead(status: 200, endOfStream: false) }
            if path == "/pause" { exchange.pauseRequestBody() }
            held[exchange.streamID] = exchange
        } else if path == "/hop-by-hop" {
            // A handler written for HTTP/1.1 may set these; HTTP/2 must not send them.
            exchange.responseFields.append("connection", "close")
            exchange.responseFields.append("keep-alive", "timeout=5")
            exchange.responseFields.append("transfer-encoding", "chunked")
            exchange.responseFields.append("Upgrade", "h2c")
            exchange.responseFields.append("x-kept", "yes")
            exchange.responseFields.append("X-Mixed", "Case")
            exchange.sendHead(status: 200, endOfStream: true)
        } else if path == "/switch" {
            // A handler written for HTTP/1.1's Upgrade.
            exchange.responseFields.append("upgrade", "websocket")
            exchange.sendHead(status: 101, endOfStream: false)
        } else if path == "/shared" {
            exchange.responseFields.appendShared(sharedHead)
            exchange.responseFields.append("x-own", "1")
            exchange.sendHead(status: 200, endOfStream: true)
        } else if path == "/http-types" {
            // swift-http-types at the edge: the request as their value, a
            // 103 and the response as theirs, never-indexed both ways.
            guard let request = try? exchange.request.httpTypesRequest() else {
                exchange.sendHead(status: 400, endOfStream: true)
                return
            }
            var hints = HTTPResponse(status: .earlyHints)
            hints.headerFields[HTTPField.Name("link")!] = "</style.css>; rel=preload; as=style"
            exchange.sendHead(hints, endOfStream: false)
            var response = HTTPResponse(status: .ok)
            response.headerFields[HTTPField.Name("x-method")!] = request.method.rawValue
            response.headerFields[HTTPField.Name("x-path")!] = request.path ?? "-"
            response.headerFields[HTTPField.Name("x-authority")!] = request.authority ?? "-"
            let secret = request.headerFields.first { $0.name.canonicalName == "x-secret" }
            response.headerFields[HTTPField.Name("x-secret-strategy")!] = secret?.indexingStrategy == .disallow ? "disallow" : "other"
            var token = HTTPField(name: HTTPField.Name("x-token")!, value: "t0ps3cret")
            token.indexingStrategy = .disallow
            response.headerFields.append(token)
            exchange.sendHead(response, endOfStream: true)
        } else if path == "/fields" {
            let count = exchange.request.fields.count
            exchange.responseFields.append("x-field-count", integer: count)
            exchange.sendHead(status: 200, endOfStream: true)
        } else {
            exchange.sendHead(status: 404, endOfStream: true)
        }
    }

    func exchange(_ exchange: any HTTPExchange, didReceiveBody bytes: UnsafeRawBufferPointer) {
        bodies.update { $0[exchange.streamID, default: 0] += bytes.count }
        if exchange.request.path == "/echo" { exchange.sendBody(copying: bytes, endOfStream: false) }
    }

    func exchange(_ exchange: any HTTPExchange, didFinishRequestWith trailers: HTTPFieldList?) {
        events.update { $0.append("finish \(exchange.streamID) trailers=\(trailers?.count ?? 0)") }
        let path = exchange.request.path
        if path == "/echo" {
            exchange.finish(trailers: trailers)
        } else if path == "/pause" || path == "/hold" {
            if path == "/pause" {
                exchange.sendHead(status: 200, endOfStream: true)
            }
        }
    }

    func exchangeDidClose(_ exchange: any HTTPExchange, reason: HTTPExchangeCloseReason) {
        events.update { $0.append("close \(exchange.streamID) \(reason)") }
        held[exchange.streamID] = nil
    }
}

/// An HTTP/2 server for protocol tests: by default the engine itself in
/// memory (each client drives its own `HTTP2Engine` over a
/// `MemoryTransport`, on the test's thread and clock); with `.socket`, a
/// loop on its own thread listening on 127.0.0.1, for what only sockets
/// show (system calls, socket buffers, bytes read).
final class TestServer: Sendable {
    enum Wire { case memory, socket(EventLoop.BackendChoice) }

    let wire: Wire
    /// Socket servers only.
    let harness: LoopHarness!
    let port: UInt16
    let handler: TestLoopBound<TestHandler>
    let counters: TestLoopBound<HTTP2Counters>
    /// Spare streams, shared by the server's connections as a loop's are.
    let streamPool: TestLoopBound<HTTP2StreamPool>
    let connections: TestLoopBound<ConnectionList>
    let clock: any LoopClock
    let configuration: HTTP2Configuration

    final class ConnectionList {
        var all: [HTTP2Connection] = []
        /// Memory servers: the clients' wires (held weakly: a client that
        /// goes away closes its connection).
        var wires: [Weak] = []
        struct Weak { weak var wire: MemoryWire? }
    }

    init(_ wire: Wire = .memory, clock: any LoopClock = MonotonicClock(),
         configure: @escaping @Sendable (inout HTTP2Configuration) -> Void = { _ in }) throws {
        self.wire = wire
        self.clock = clock
        var configuration = HTTP2Configuration()
        configure(&configuration)
        self.configuration = configuration
        guard case .socket(let backend) = wire else {
            harness = nil
            port = 0
            (handler, counters, connections) = (TestLoopBound(TestHandler()), TestLoopBound(HTTP2Counters()), TestLoopBound(ConnectionList()))
            streamPool = TestLoopBound(HTTP2StreamPool(bufferPool: BufferPool(blockSize: 16 * 1024, maximumFree: 64)))
            return
        }
        harness = try LoopHarness(backend: backend, clock: clock)
        let settings = configuration
        let made = try harness.onLoop { loop -> (UInt16, TestLoopBound<TestHandler>, TestLoopBound<HTTP2Counters>,
                                                  TestLoopBound<ConnectionList>, TestLoopBound<HTTP2StreamPool>) in
            let handler = TestHandler()
            let counters = HTTP2Counters()
            let list = ConnectionList()
            let pool = HTTP2StreamPool(bufferPool: loop.bufferPool)
            let listener = try loop.listen(host: "127.0.0.1", port: 0) { connection in
                list.all.append(HTTP2Connection.start(on: connection, handler: handler, configuration: settings, counters: counters,
                                                      streamPool: pool))
            }
            return (listener.port, TestLoopBound(handler), TestLoopBound(counters), TestLoopBound(list), TestLoopBound(pool))
        }
        (port, handler, counters, connections, streamPool) = made
    }

    /// Runs `body` where the server's state lives: on the loop thread, or
    /// here for a memory server.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        guard let harness else { return try body() }
        return try harness.onLoop { _ in try body() }
    }

    func rejections(_ token: String) throws -> Int {
        let counters = self.counters
        return try onLoop { counters.value.rejections(token) }
    }

    /// Connections ended without a rule broken (`ConnectionEvent`), by token.
    func connectionEvents(_ token: String) throws -> Int {
        let counters = self.counters
        return try onLoop { counters.value.events[token] ?? 0 }
    }

    var events: [String] { handler.value.events.get() }

    /// A turn: a memory server reads the clock (firing due timers) and
    /// produces its output; a loop is woken and its turn waited for.
    func turn() throws {
        guard let harness else {
            for entry in connections.value.wires { entry.wire?.turn() }
            return
        }
        _ = try harness.onLoop { _ in () }
        _ = try harness.onLoop { _ in () }
    }

    /// Starts a graceful shutdown of every connection.
    func shutDownGracefully() throws {
        let connections = self.connections
        guard harness != nil else {
            for entry in connections.value.wires {
                entry.wire?.engine.beginGracefulShutdown()
                entry.wire?.turn()
            }
            return
        }
        try onLoop { for connection in connections.value.all { connection.beginGracefulShutdown() } }
    }

    /// A connected client that sent the preface and SETTINGS (unless told
    /// not to), without waiting for anything.
    func rawClient(preface: Bool = true, settings: [(SettingsParameter, UInt32)] = []) throws -> FrameClient {
        guard harness == nil else { return try FrameClient(port: port, preface: preface, settings: settings) }
        let wire = MemoryWire(handler: handler.value, configuration: configuration, counters: counters.value,
                              streamPool: streamPool.value, clock: clock)
        connections.value.wires.append(ConnectionList.Weak(wire: wire))
        return try FrameClient(wire: wire, preface: preface, settings: settings)
    }

    /// A connected client that completed the SETTINGS exchange.
    func client(settings: [(SettingsParameter, UInt32)] = []) throws -> FrameClient {
        let client = try rawClient(settings: settings)
        try client.handshake()
        return client
    }
}
