import SwiftletHTTP
@testable import SwiftletHTTP1
@testable import SwiftletHTTP2
import SwiftletLoop
import SwiftletTestSupport
import Testing

/// Exchanges are pooled in release builds. A handler that keeps one past
/// `exchangeDidClose` must not act on a later request: every action on a
/// closed handle does nothing, and debug builds (these tests) give each
/// request its own handle and stop at the stale call.
@Suite("Stale exchange handles are caught", .serialized)
struct StaleExchangeTests {
    /// Answers 204 and keeps every handle it was given.
    final class KeepingHandler: HTTPHandler {
        var handles: [any HTTPExchange] = []
        var closed = 0
        var statusesAtClose: [Int] = []
        /// Callbacks that came after the exchange's `exchangeDidClose`.
        var afterClose: [String] = []
        var closedHandles: Set<ObjectIdentifier> = []
        func exchangeDidStart(_ exchange: any HTTPExchange) {
            handles.append(exchange)
            exchange.sendHead(status: 204, endOfStream: true)
        }
        func exchange(_ exchange: any HTTPExchange, didReceiveBody bytes: UnsafeRawBufferPointer) {
            if closedHandles.contains(ObjectIdentifier(exchange)) { afterClose.append("body") }
        }
        func exchange(_ exchange: any HTTPExchange, didFinishRequestWith trailers: HTTPFieldList?) {
            if closedHandles.contains(ObjectIdentifier(exchange)) { afterClose.append("finish") }
        }
        func exchangeDidClose(_ exchange: any HTTPExchange, reason: HTTPExchangeCloseReason) {
            if closedHandles.contains(ObjectIdentifier(exchange)) { afterClose.append("close") }
            closedHandles.insert(ObjectIdentifier(exchange))
            closed += 1
            statusesAtClose.append(exchange.responseStatus)
        }
    }

    enum Served: String, CaseIterable, Sendable, Codable { case http2, http1 }

    /// A loop serving `kind` with a KeepingHandler; two requests on one
    /// connection, answered and closed.
    static func twoRequests(_ kind: Served) throws -> (LoopHarness, TestLoopBound<KeepingHandler>) {
        let harness = try LoopHarness(backend: .epoll)
        let (port, handler) = try harness.onLoop { loop -> (UInt16, TestLoopBound<KeepingHandler>) in
            let handler = KeepingHandler()
            let listener = try loop.listen(host: "127.0.0.1", port: 0) { connection in
                switch kind {
                case .http2: HTTP2Connection.start(on: connection, handler: handler)
                case .http1: HTTP1Connection.start(on: connection, handler: handler)
                }
            }
            return (listener.port, TestLoopBound(handler))
        }
        switch kind {
        case .http2:
            let client = try FrameClient(port: port, settings: [])
            try client.handshake()
            for stream: UInt32 in [1, 3] {
                try client.send(client.headers(stream: stream, FrameClient.get("/a"), endStream: true))
                #expect(try client.response(stream: stream).status == "204")
            }
        case .http1:
            let client = try TestClient(port: port)
            for _ in 0..<2 {
                try client.send(Array("GET /a HTTP/1.1\r\nhost: x\r\n\r\n".utf8))
                // A 204 is its head alone.
                var head: [UInt8] = []
                while !head.suffix(4).elementsEqual("\r\n\r\n".utf8) {
                    let byte = try client.receive(exactly: 1)
                    guard !byte.isEmpty else { break }
                    head += byte
                }
                #expect(head.starts(with: "HTTP/1.1 204 No Content\r\n".utf8))
            }
        }
        #expect(try harness.waitUntil { _ in handler.value.closed == 2 })
        return (harness, handler)
    }

    @Test("exchangeDidClose comes last, also when the handler answered inside exchangeDidStart", arguments: Served.allCases)
    func closeIsLast(kind: Served) throws {
        let (harness, handler) = try Self.twoRequests(kind)
        defer { harness.shutdown() }
        let late = try harness.onLoop { _ in handler.value.afterClose }
        #expect(late == [])
    }

    @Test("debug builds give every request its own handle", arguments: Served.allCases)
    func ownHandlePerRequest(kind: Served) throws {
        try #require(!HTTP2Engine.recyclesExchanges && !HTTP1Exchange.recycles, "these tests run in debug builds")
        let (harness, handler) = try Self.twoRequests(kind)
        defer { harness.shutdown() }
        let distinct = try harness.onLoop { _ in handler.value.handles[0] !== handler.value.handles[1] }
        #expect(distinct)
    }

    @Test("a call on a handle after exchangeDidClose stops a debug build", arguments: Served.allCases)
    func staleCallTraps(kind: Served) async {
        await #expect(processExitsWith: .failure) { [kind] in
            let (harness, handler) = try StaleExchangeTests.twoRequests(kind)
            try harness.onLoop { _ in handler.value.handles[0].sendHead(status: 200, endOfStream: true) }
        }
    }

    @Test("reading the handle inside exchangeDidClose (as an access log does) is allowed", arguments: Served.allCases)
    func readingInsideCloseIsAllowed(kind: Served) throws {
        let (harness, handler) = try Self.twoRequests(kind)
        defer { harness.shutdown() }
        let statuses = try harness.onLoop { _ in handler.value.statusesAtClose }
        #expect(statuses == [204, 204])
    }
}
