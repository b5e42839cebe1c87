import CoreMetrics
import Glibc
import MetricsTestKit
import SwiftletHTTP
import SwiftletLoop
@testable import SwiftletServer
import Testing

/// Answers /ok with 200 and everything else with 404.
final class OKHandler: HTTPHandler {
    func exchangeDidStart(_ exchange: any HTTPExchange) {
        let ok = exchange.request.pathBytes.elementsEqual("/ok".utf8)
        exchange.responseFields.append("content-length", "0")
        exchange.sendHead(status: ok ? 200 : 404, endOfStream: true)
    }
}

@Suite("metrics through swift-metrics", .serialized)
struct ServerMetricsTests {
    /// Sends `text` on a new connection and reads `responses` HTTP/1.1 responses.
    static func exchange(port: UInt16, _ text: String, responses: Int) throws -> String {
        let fd = try connectTo(port: port)
        defer { close(fd) }
        _ = Array(text.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while received.split(separator: 0x0A).filter({ $0.starts(with: Array("HTTP/1.1 ".utf8)) }).count < responses {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            received += buffer[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    static func connectTo(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw SystemError.last("connect")
        }
        return fd
    }

    /// A server on a free port whose loops report to `metrics` every 5 ms.
    static func startServer(reportingTo metrics: TestMetrics) throws -> Server {
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.metricsFactory = metrics
        configuration.metricsInterval = .milliseconds(5)
        let server = try Server(configuration: configuration) { _ in OKHandler() }
        try server.start()
        return server
    }

    static func waitFor(_ condition: () throws -> Bool) rethrows -> Bool {
        for _ in 0..<500 {
            if try condition() { return true }
            usleep(10_000)
        }
        return try condition()
    }

    @Test("after a known exchange: connections, requests by status class, bytes, durations, rejections by token")
    func knownExchange() throws {
        let metrics = TestMetrics()
        let server = try Self.startServer(reportingTo: metrics)
        defer {
            server.stop()
            server.waitUntilStopped()
        }
        let request = "GET /ok HTTP/1.1\r\nhost: x\r\n\r\nGET /ok HTTP/1.1\r\nhost: x\r\n\r\nGET /missing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        let answer = try Self.exchange(port: server.port, request, responses: 3)
        #expect(answer.contains("404"))
        // A version HTTP/1.1 refuses (505), on a second connection.
        let refused = "GET / HTTP/1.7\r\nhost: x\r\n\r\n"
        _ = try Self.exchange(port: server.port, refused, responses: 1)

        let settled = Self.waitFor {
            metrics.counterTotal(label: "swiftlet_connections_closed_total") == 2
                && metrics.counterTotal(label: "swiftlet_requests_total", dimensions: [("status", "4xx"), ("method", "GET")]) == 1
        }
        #expect(settled)
        #expect(metrics.counterTotal(label: "swiftlet_connections_accepted_total") == 2)
        #expect(metrics.meters(label: "swiftlet_connections_open").allSatisfy { ($0.lastValue ?? 0) == 0 })
        #expect(metrics.counterTotal(label: "swiftlet_requests_total", dimensions: [("status", "2xx"), ("method", "GET")]) == 2)
        #expect(metrics.counterTotal(label: "swiftlet_requests_total", dimensions: [("status", "4xx"), ("method", "GET")]) == 1)
        #expect(metrics.counterTotal(label: "swiftlet_requests_total") == 3)
        #expect(metrics.counterTotal(label: "swiftlet_bytes_received_total") == Int64(request.utf8.count + refused.utf8.count))
        #expect(metrics.counterTotal(label: "swiftlet_bytes_sent_total") > 0)
        #expect(try metrics.expectTimer("swiftlet_request_duration_seconds").values.count == 3)
        #expect(metrics.meters(label: "swiftlet_streams_open").first?.lastValue ?? 0 == 0)
        #expect(metrics.counterTotal(label: "swiftlet_rejections_total", dimensions: [("token", "h1_bad_version")]) == 1)
    }

    @Test("the open-connections meter rises while a connection is open and falls when it closes")
    func openConnections() throws {
        let metrics = TestMetrics()
        let server = try Self.startServer(reportingTo: metrics)
        defer {
            server.stop()
            server.waitUntilStopped()
        }
        let open = { metrics.meters(label: "swiftlet_connections_open", dimensions: [("state", "handshake")]).first?.lastValue ?? 0 }
        let fd = try Self.connectTo(port: server.port)
        #expect(Self.waitFor { open() == 1 })
        close(fd)
        #expect(Self.waitFor { open() == 0 })
        #expect(metrics.counterTotal(label: "swiftlet_connections_closed_total") == 1)
    }

    @Test("no backend bootstrapped and none configured: no metrics are kept")
    func noBackend() throws {
        #expect(ServerMetrics.resolve(nil) == nil)
    }
}
