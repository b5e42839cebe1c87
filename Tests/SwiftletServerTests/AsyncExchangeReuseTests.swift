import Glibc
import HTTPTypes
import Synchronization
import SwiftletHTTP
import SwiftletLoop
@testable import SwiftletServer
import Testing

/// `AsyncHTTPHandler` keeps the state of finished exchanges for the next
/// requests of its loop, but only state nobody holds any more: a response
/// writer a handler kept past its end must fail as closed, not write into
/// a later request.
@Suite("async exchange state is reused, never while held", .serialized)
struct AsyncExchangeReuseTests {
    /// What the test reads back from the server's loop. `@unchecked`:
    /// `handler` is set once while the server starts, before any request,
    /// and what it counts is read on its loop only.
    final class Captured: @unchecked Sendable {
        var handler: AsyncHTTPHandler?
        let keptWriter = Mutex<HTTPResponseWriter?>(nil)
    }

    /// A one-loop server whose handler answers every path with its own
    /// name, and keeps the writer of `/keep`; `/late` writes through that
    /// writer while it is served and answers with what happened.
    static func startServer(_ captured: Captured) throws -> Server {
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.loops = 1
        let server = try Server(configuration: configuration) { loop in
            let handler = AsyncHTTPHandler(loop: loop) { request, _, response in
                if request.path == "/keep" { captured.keptWriter.withLock { $0 = response } }
                var body = request.path ?? ""
                if request.path == "/late", let kept = captured.keptWriter.withLock({ $0 }) {
                    do {
                        try await kept.write(Array("late".utf8))
                        body = "written"
                    } catch is HTTPExchangeClosedError {
                        body = "closed"
                    } catch {
                        body = "\(error)"
                    }
                }
                try await response.respond(HTTPResponse(status: .ok), body: Array(body.utf8))
            }
            captured.handler = handler
            return handler
        }
        try server.start()
        return server
    }

    /// How many states the handler made so far, read on its loop.
    static func statesMade(_ captured: Captured) -> Int {
        let loop = captured.handler!.loop
        let count = Mutex(-1)
        loop.execute {
            let made = captured.handler!.statesMade
            count.withLock { $0 = made }
        }
        _ = ServerMetricsTests.waitFor { count.withLock { $0 } >= 0 }
        return count.withLock { $0 }
    }

    /// `paths` as pipelined HTTP/1.1 requests on one connection, the last
    /// closing it; returns the bodies of the responses, in order.
    static func get(_ paths: [String], port: UInt16) throws -> [String] {
        let request = paths.enumerated().map { index, path in
            "GET \(path) HTTP/1.1\r\nhost: x\r\n" + (index == paths.count - 1 ? "connection: close\r\n" : "") + "\r\n"
        }.joined()
        let answer = try ServerMetricsTests.exchange(port: port, request, responses: paths.count)
        // Each response: head, blank line, body (its path, no newline).
        return answer.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.components(separatedBy: "\r\n\r\n").last ?? "" }
    }

    @Test("sequential requests reuse the states of the ones before")
    func sequentialRequestsReuse() throws {
        let captured = Captured()
        let server = try Self.startServer(captured)
        defer {
            server.stop()
            server.waitUntilStopped()
        }
        let paths = (1...8).map { "/r\($0)" }
        #expect(try Self.get(paths, port: server.port) == paths)
        let made = Self.statesMade(captured)
        #expect(made >= 1 && made <= 3, "8 requests one after the other made \(made) states")
    }

    @Test("a writer kept after the handler returned fails as closed; its state serves no later request")
    func keptWriterIsNotReused() async throws {
        let captured = Captured()
        let server = try Self.startServer(captured)
        defer {
            server.stop()
            server.waitUntilStopped()
        }
        let paths = ["/keep", "/late"] + (1...8).map { "/r\($0)" }
        let bodies = try Self.get(paths, port: server.port)
        #expect(bodies[1] == "closed", "the kept writer, used during the next request, said \(bodies[1])")
        #expect(bodies[0] == "/keep" && Array(bodies[2...]) == Array(paths[2...]), "every other response is its own")
        let writer = try #require(captured.keptWriter.withLock { $0 })
        await #expect(throws: HTTPExchangeClosedError.self) { try await writer.write(Array("late".utf8)) }
        // Reuse went on around the held state.
        #expect(Self.statesMade(captured) <= 5)
        captured.keptWriter.withLock { $0 = nil }
    }
}
