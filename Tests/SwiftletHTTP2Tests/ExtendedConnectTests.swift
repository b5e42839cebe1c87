import SwiftletHTTP2
import Testing

/// RFC 8441: extended CONNECT, the stream a WebSocket runs on over HTTP/2.
@Suite("RFC 8441: extended CONNECT", .serialized)
struct ExtendedConnectTests {
    static func webSocket(path: String = "/echo", drop: String? = nil) -> [(String, String)] {
        [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"), (":path", path),
         (":authority", "example.com"), ("sec-websocket-version", "13")].filter { $0.0 != drop }
    }

    /// The server's first SETTINGS, read before acknowledging it.
    static func serverSettings(_ server: TestServer) throws -> [Frame.Parameter] {
        let client = try server.rawClient()
        let (frame, _) = try client.read { if case .settings(false, _) = $0 { true } else { false } }
        guard case .settings(_, let parameters) = frame else { return [] }
        return parameters
    }

    @Test("§3: SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 is sent only when enabled")
    func advertised() throws {
        let enabled = try TestServer { $0.limits.enableConnectProtocol = true }
        #expect(try Self.serverSettings(enabled).contains { $0.id == 0x8 && $0.value == 1 })
        #expect(try !Self.serverSettings(TestServer()).contains { $0.id == 0x8 })
    }

    @Test("§4: a CONNECT with :protocol opens a stream both sides stream on until they end it")
    func bidirectional() throws {
        let server = try TestServer { $0.limits.enableConnectProtocol = true }
        let client = try server.client()
        try client.send(client.headers(stream: 1, Self.webSocket()))
        let (head, _) = try client.read { if case .headers(1, _, _) = $0 { true } else { false } }
        guard case .headers(_, let fields, let endStream) = head else { return }
        #expect(fields.first { $0.name == ":status" }?.value == "200" && !endStream)
        for message in ["one", "two"] {
            try client.send(FrameClient.data(stream: 1, Array(message.utf8)))
            let (echoed, _) = try client.read { if case .data(1, _, _) = $0 { true } else { false } }
            guard case .data(_, let bytes, _) = echoed else { return }
            #expect(bytes == Array(message.utf8))
        }
        #expect(server.events.contains { $0 == "start 1 CONNECT /echo" }, "\(server.events)")
    }

    @Test("§4: without the setting, :protocol is an undefined pseudo-header (RFC 9113 §8.3)")
    func notEnabled() throws {
        let server = try TestServer()
        try server.expectStreamError({ $0.headers(stream: 1, Self.webSocket(), endStream: true) }, stream: 1, code: .protocolError,
                                     token: "unknown_pseudo_header")
    }

    @Test("§4: :protocol on another method, a missing :scheme, :path or :authority, a repeated :protocol",
          arguments: [
              ([(":method", "GET"), (":protocol", "websocket"), (":scheme", "https"), (":path", "/"), (":authority", "a")], "protocol_without_connect"),
              (webSocket(drop: ":path"), "extended_connect_incomplete"),
              (webSocket(drop: ":scheme"), "extended_connect_incomplete"),
              (webSocket(drop: ":authority"), "extended_connect_incomplete"),
              (webSocket(path: "echo"), "extended_connect_incomplete"),
              ([(":method", "CONNECT"), (":protocol", "websocket"), (":protocol", "websocket"), (":scheme", "https"),
                (":path", "/"), (":authority", "a")], "duplicate_pseudo_header"),
          ])
    func malformed(fields: [(String, String)], token: String) throws {
        let server = try TestServer { $0.limits.enableConnectProtocol = true }
        try server.expectStreamError({ $0.headers(stream: 1, fields, endStream: true) }, stream: 1, code: .protocolError, token: token)
        #expect(!server.events.contains { $0.hasPrefix("start") }, "the handler never saw it")
    }
}
