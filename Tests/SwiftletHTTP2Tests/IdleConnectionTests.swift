import SwiftletHTTP2
import SwiftletLoop
import SwiftletTestSupport
import Testing

/// A connection that never opens a stream (an idle client, a flood of
/// connections that never send a request) holds no stream table, scheduler
/// or HPACK state: they are made at its first HEADERS, and catch up then on
/// what the SETTINGS exchange decided.
@Suite("An idle connection holds no stream state", .serialized)
struct IdleConnectionTests {
    private func engine(of server: TestServer) -> HTTP2Engine {
        server.connections.value.wires.last!.wire!.engine
    }

    @Test("the handshake, PING and WINDOW_UPDATE make no stream state; the first HEADERS does")
    func madeAtFirstHeaders() throws {
        let server = try TestServer()
        let client = try server.client()
        try client.send(FrameClient.ping(7) + FrameClient.windowUpdate(stream: 0, increment: 1000))
        let (pong, _) = try client.read { if case .ping(true, _) = $0 { true } else { false } }
        #expect(pong == .ping(ack: true, payload: 7))
        #expect(!engine(of: server).hasStreamState)
        #expect(engine(of: server).openStreamCount == 0)

        try client.send(client.headers(stream: 1, FrameClient.get("/hello"), endStream: true))
        let response = try client.response(stream: 1)
        #expect(response.status == "200" && response.body == Array("hello".utf8))
        #expect(engine(of: server).hasStreamState)
    }

    @Test("RFC 7541 §4.2: a table size the peer set before its first request starts our first header block",
          arguments: [true, false])
    func peerTableSizeBeforeTheEncoder(settingsBeforeFirstRequest: Bool) throws {
        let server = try TestServer()
        let client = try server.client(settings: settingsBeforeFirstRequest ? [(.headerTableSize, 0)] : [])
        if !settingsBeforeFirstRequest {
            // The same change once the encoder exists, for comparison.
            try client.send(client.headers(stream: 1, FrameClient.get("/nobody"), endStream: true))
            _ = try client.response(stream: 1)
            try client.send(FrameClient.settings([(.headerTableSize, 0)]))
            _ = try client.read { $0 == .settings(ack: true, parameters: []) }
        }
        let stream: UInt32 = settingsBeforeFirstRequest ? 1 : 3
        try client.send(client.headers(stream: stream, FrameClient.get("/hello"), endStream: true))
        let response = try client.response(stream: stream)
        #expect(response.status == "200")
        #expect(response.fields == [Frame.Field(name: "content-type", value: "text/plain")])
        // The block began with a size update to 0, so the client's table
        // took nothing: our encoder uses no dynamic table either.
        #expect(client.decoder.dynamicTableMaximumSize == 0)
        #expect(client.decoder.dynamicTableCount == 0)
    }
}
