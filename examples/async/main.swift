// An application written with Swiftlet's async API: a small JSON API with a
// router of its own, an upload streamed to disk, a long-lived streaming
// response, Early Hints, and the error paths, all in async functions that
// run on the loop's thread. See docs/embedding.md.
//
//   swift run swiftlet-async-example --port 8082 --uploads /tmp
//   curl --http2-prior-knowledge http://127.0.0.1:8082/items
//   curl --http2-prior-knowledge -d '{"name":"pear"}' http://127.0.0.1:8082/items
//   curl --http2-prior-knowledge -N http://127.0.0.1:8082/stream?count=5
//
// The program runs the server in a swift-service-lifecycle ServiceGroup
// beside a second service; SIGTERM or SIGINT shuts both down gracefully.
import FoundationEssentials
import Glibc
import HTTPTypes
import Logging
import ServiceLifecycle
import SwiftletLoop
import SwiftletServer

// MARK: the application's state: an actor on the loop, no locks

struct Item: Codable, Sendable {
    var id: Int
    var name: String
}

/// The item store. Its executor is the loop's, so handlers (which run on
/// the loop) reach it without leaving the thread.
actor ItemStore {
    let loop: EventLoop
    private var items: [Int: Item] = [1: Item(id: 1, name: "apple")]
    private var nextID = 2
    private(set) var cancelled = 0

    init(loop: EventLoop) { self.loop = loop }

    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }

    func all() -> [Item] { items.values.sorted { $0.id < $1.id } }
    func item(_ id: Int) -> Item? { items[id] }
    func add(name: String) -> Item {
        let item = Item(id: nextID, name: name)
        items[item.id] = item
        nextID += 1
        return item
    }
    func countCancellation() { cancelled += 1 }
}

// MARK: a router of a few lines (the example's, not a framework)

struct Route: Sendable {
    let method: HTTPRequest.Method
    let pattern: [Substring]  // ":name" segments match anything
    let handle: @Sendable (Request) async throws -> Void
}

struct Request: Sendable {
    let head: HTTPRequest
    let parameters: [Substring: Substring]
    let query: [Substring: Substring]
    let body: HTTPRequestBody
    let response: HTTPResponseWriter
}

struct Router: Sendable {
    var routes: [Route] = []

    mutating func on(_ method: HTTPRequest.Method, _ path: String, _ handle: @escaping @Sendable (Request) async throws -> Void) {
        routes.append(Route(method: method, pattern: path.split(separator: "/"), handle: handle))
    }

    func respond(_ head: HTTPRequest, _ body: HTTPRequestBody, _ response: HTTPResponseWriter) async throws {
        let target = head.path ?? "/"
        let parts = target.split(separator: "?", maxSplits: 1)
        let segments = parts.first.map { $0.split(separator: "/") } ?? []
        var query: [Substring: Substring] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                query[kv[0]] = kv.count > 1 ? kv[1] : ""
            }
        }
        var pathMatched = false
        for route in routes where route.pattern.count == segments.count {
            var parameters: [Substring: Substring] = [:]
            let matches = zip(route.pattern, segments).allSatisfy { pattern, segment in
                if pattern.first == ":" { parameters[pattern.dropFirst()] = segment; return true }
                return pattern == segment
            }
            guard matches else { continue }
            pathMatched = true
            guard route.method == head.method else { continue }
            return try await route.handle(Request(head: head, parameters: parameters, query: query, body: body, response: response))
        }
        if pathMatched {
            return try await response.respond(HTTPResponse(status: .methodNotAllowed), body: [])
        }
        try await response.respond(HTTPResponse(status: .notFound), body: Array("no route for \(target)\n".utf8))
    }
}

func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, to response: HTTPResponseWriter) async throws {
    let data = try JSONEncoder().encode(value)
    try await response.respond(HTTPResponse(status: status, headerFields: [.contentType: "application/json"]), body: Array(data))
}

/// The routes of one loop (each loop has its own store).
func makeRouter(loop: EventLoop, uploads: String) -> Router {
    let store = ItemStore(loop: loop)
    var router = Router()
    router.on(.get, "/hello") { request in
        try await request.response.respond(HTTPResponse(status: .ok, headerFields: [.contentType: "text/plain"]),
                                           body: Array("hello from an async handler\n".utf8))
    }
    router.on(.get, "/items") { request in
        try await json(await store.all(), to: request.response)
    }
    router.on(.get, "/items/:id") { request in
        guard let id = request.parameters["id"].flatMap({ Int($0) }), let item = await store.item(id) else {
            return try await request.response.respond(HTTPResponse(status: .notFound), body: [])
        }
        try await json(item, to: request.response)
    }
    router.on(.post, "/items") { request in
        struct NewItem: Decodable { var name: String }
        // Bodies over 4 KiB are refused with 413 (the error escapes).
        let bytes = try await request.body.collect(upTo: 4096)
        guard let new = try? JSONDecoder().decode(NewItem.self, from: Data(bytes)) else {
            return try await request.response.respond(HTTPResponse(status: .badRequest), body: Array("expected {\"name\": ...}\n".utf8))
        }
        try await json(await store.add(name: new.name), status: .created, to: request.response)
    }
    router.on(.post, "/upload") { request in
        // Streams the body to a file as it arrives; memory stays flat.
        let path = "\(uploads)/upload-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).bin"
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        struct CannotCreate: Error { let path: String }
        guard descriptor >= 0 else { throw CannotCreate(path: path) }  // 500
        defer { close(descriptor) }
        let written = try await request.body.write(toFileDescriptor: descriptor)
        struct Stored: Encodable { var bytes: Int; var path: String }
        try await json(Stored(bytes: written, path: path), status: .created, to: request.response)
    }
    router.on(.post, "/echo") { request in
        // The body back as it arrives; a client that stops reading holds
        // the writer, which holds the reader: back-pressure end to end.
        try await request.response.writeHead(HTTPResponse(status: .ok, headerFields: [.contentType: "application/octet-stream"]))
        for try await chunk in request.body { try await request.response.write(chunk) }
        try await request.response.finish(trailers: try await request.body.trailers)
    }
    router.on(.get, "/stream") { request in
        // A long-lived response: one line every `interval` ms, then trailers.
        let count = request.query["count"].flatMap { Int($0) } ?? 10
        let interval = request.query["interval"].flatMap { Int($0) } ?? 50
        try await request.response.writeHead(HTTPResponse(status: .ok, headerFields: [.contentType: "text/plain"]))
        for index in 0..<count {
            try await request.response.write("tick \(index)\n")
            try await Task.sleep(for: .milliseconds(interval))
        }
        try await request.response.finish(trailers: [HTTPField.Name("x-ticks")!: String(count)])
    }
    router.on(.get, "/early-hints") { request in
        try await request.response.sendInformational(HTTPResponse(status: .earlyHints, headerFields: [HTTPField.Name("link")!: "</app.css>; rel=preload; as=style"]))
        try await request.response.respond(HTTPResponse(status: .ok, headerFields: [.contentType: "text/html"]), body: Array("<link rel=stylesheet href=/app.css>\n".utf8))
    }
    router.on(.post, "/wait") { request in
        // Waits for a body that never ends; the peer's reset cancels it.
        do {
            for try await _ in request.body {}
            try await request.response.respond(HTTPResponse(status: .ok), body: [])
        } catch {
            await store.countCancellation()
            throw error
        }
    }
    router.on(.post, "/ignore") { _ in
        // Never reads the body: the client can send no more than the
        // stream's window (HTTP/2) or the socket buffers (HTTP/1.1).
        try await Task.sleep(for: .seconds(30))
    }
    router.on(.get, "/unfinished") { request in
        // Returns without finishing: the response is finished for it.
        try await request.response.writeHead(HTTPResponse(status: .ok))
        try await request.response.write("left open\n")
    }
    router.on(.get, "/stats") { request in
        struct Stats: Encodable { var cancelled: Int }
        try await json(Stats(cancelled: await store.cancelled), to: request.response)
    }
    router.on(.get, "/fail") { _ in
        struct Failure: Error {}
        throw Failure()  // before any response: 500
    }
    router.on(.get, "/fail-midway") { request in
        struct Failure: Error {}
        try await request.response.writeHead(HTTPResponse(status: .ok))
        try await request.response.write("partial\n")
        throw Failure()  // after the head: the stream is reset
    }
    return router
}

// MARK: a second service, to show the ServiceGroup

/// Logs once a second that the process is alive, until shutdown.
struct Heartbeat: Service {
    let logger: Logger
    func run() async throws {
        var beats = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            beats += 1
            logger.debug("heartbeat \(beats)")
        }
    }
}

// MARK: main

var port: UInt16 = 8082
var uploads = "/tmp"
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--port": port = arguments.next().flatMap { UInt16($0) } ?? port
    case "--uploads": uploads = arguments.next() ?? uploads
    default:
        print("usage: swiftlet-async-example [--port N] [--uploads DIRECTORY]")
        exit(2)
    }
}

var configuration = ServerConfiguration()
configuration.host = "127.0.0.1"
configuration.port = port
if let io = ProcessInfo.processInfo.environment["SWIFTLET_IO"], let backend = EventLoop.BackendChoice(rawValue: io) {
    configuration.backend = backend
}
let logger = Logger(label: "swiftlet-async-example")
let uploadDirectory = uploads
let server = try Server(configuration: configuration, makeHandler: { loop in
    let router = makeRouter(loop: loop, uploads: uploadDirectory)
    return AsyncHTTPHandler(loop: loop) { head, body, response in
        try await router.respond(head, body, response)
    }
})
try server.start()

/// Says where the server listens once the group runs (and so handles
/// SIGTERM), then waits for the shutdown.
struct Announce: Service {
    let server: Server
    func run() async throws {
        print("listening on http://127.0.0.1:\(server.port) (\(server.backend.rawValue))")
        fflush(nil)  // stdout may be a pipe (block-buffered)
        try? await gracefulShutdown()
    }
}

let group = ServiceGroup(configuration: ServiceGroupConfiguration(
    services: [.init(service: server), .init(service: Heartbeat(logger: logger)), .init(service: Announce(server: server))],
    gracefulShutdownSignals: [.sigterm, .sigint],
    logger: logger))
try await group.run()
