import SwiftletHTTP2
import SwiftletLoop
import SwiftletTestSupport
import Testing

@Suite("HTTP/2 exchanges over raw frames", .serialized)
struct BasicExchangeTests {
    @Test("the server preface: SETTINGS first, then a connection WINDOW_UPDATE after ours", arguments: allBackends)
    func serverPreface(backend: EventLoop.BackendChoice) throws {
        let server = try TestServer(.socket(backend))
        let client = try server.rawClient()
        let first = try client.readFrame()
        guard case .settings(false, let parameters) = first else {
            Issue.record("first frame \(String(describing: first))")
            return
        }
        #expect(parameters.contains(Frame.Parameter(id: SettingsParameter.maxConcurrentStreams.rawValue, value: 100)))
        #expect(parameters.contains(Frame.Parameter(id: SettingsParameter.noRFC7540Priorities.rawValue, value: 1)))
        let (update, _) = try client.read { if case .windowUpdate = $0 { true } else { false } }
        #expect(update == .windowUpdate(stream: 0, increment: (16 << 20) - 65_535))
    }

    @Test("GET /hello", arguments: allBackends)
    func hello(backend: EventLoop.BackendChoice) throws {
        let server = try TestServer(.socket(backend))
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.get("/hello"), endStream: true))
        let response = try client.response(stream: 1)
        #expect(response.status == "200")
        #expect(response.fields == [Frame.Field(name: "content-type", value: "text/plain")])
        #expect(response.body == Array("hello".utf8))
    }

    @Test("§8.2.2: connection-specific fields a handler sets are not sent, whatever their case; names go out lowercase")
    func connectionSpecificResponseFieldsDropped() throws {
        let server = try TestServer()
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.get("/hop-by-hop"), endStream: true))
        let response = try client.response(stream: 1)
        #expect(response.status == "200")
        #expect(response.fields == [Frame.Field(name: "x-kept", value: "yes"), Frame.Field(name: "x-mixed", value: "Case")])
    }

    @Test("§8.6: a handler's 101 is answered 500: \"HTTP/2 removes support for the 101 (Switching Protocols) informational status code\"")
    func noSwitchingProtocols() throws {
        let server = try TestServer()
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.get("/switch"), endStream: true))
        let response = try client.response(stream: 1)
        #expect(response.status == "500")
        #expect(response.fields.isEmpty && response.body.isEmpty)
    }

    @Test("a loop's connections share spare streams: one a connection is done with serves the next connection")
    func streamsSharedAcrossConnections() throws {
        let server = try TestServer()
        #expect(server.streamPool.value.count == 0)
        let first = try server.client()
        // Malformed (an uppercase name): refused before a handler sees the
        // stream, so it goes back to the pool even in debug builds (which
        // keep streams a handler saw out of it, to catch stale handles).
        try first.send(first.headers(stream: 1, FrameClient.get("/hello", extra: [("X-Upper", "1")]), endStream: true))
        _ = try first.read(until: { $0 == .rstStream(stream: 1, code: .protocolError) })
        #expect(server.streamPool.value.count == 1, "the refused stream is spare")
        let second = try server.client()
        try second.send(second.headers(stream: 1, FrameClient.get("/hello"), endStream: true))
        #expect(try second.response(stream: 1).status == "200")
        var recycles = true  // release builds pool streams a handler saw; debug builds do not
        assert({ recycles = false; return true }())
        #expect(server.streamPool.value.count == (recycles ? 1 : 0), "the second connection took the first one's stream")
    }

    @Test("a shared head goes out through its HPACK preparation: lowercased, connection-specific fields dropped, then the response's own fields")
    func sharedHead() throws {
        let server = try TestServer()
        let client = try server.client()
        for stream in [UInt32(1), 3] {  // the second response finds the preparation made by the first
            try client.send(client.headers(stream: stream, FrameClient.get("/shared"), endStream: true))
            let response = try client.response(stream: stream)
            #expect(response.status == "200")
            #expect(response.fields == [Frame.Field(name: "content-type", value: "text/plain"),
                                        Frame.Field(name: "x-shared", value: "yes"),
                                        Frame.Field(name: "x-own", value: "1")])
        }
    }
}

@Suite("swift-http-types at the edge of an HTTP/2 exchange")
struct HTTPTypesExchangeTests {
    @Test("a request becomes their HTTPRequestHead; a 103 and their HTTPResponse go out; never-indexed fields stay never-indexed both ways")
    func roundTrip() throws {
        let server = try TestServer()
        let client = try server.client()
        // RFC 7541 §6.2.3: a never-indexed literal from the client...
        var block = client.block(FrameClient.get("/http-types"))
        block += client.block([("x-secret", "hunter2")], indexing: .never)  // continues the same block
        try client.send(client.headers(stream: 1, block: block, endStream: true))
        // ... a 103 Early Hints first (a HEADERS without END_STREAM) ...
        let (hints, _) = try client.read { if case .headers = $0 { true } else { false } }
        #expect(hints == .headers(stream: 1, fields: [Frame.Field(name: ":status", value: "103"),
                                                       Frame.Field(name: "link", value: "</style.css>; rel=preload; as=style")],
                                  endStream: false))
        // ... then the final head, which does not repeat the 103's fields.
        let response = try client.response(stream: 1)
        #expect(response.status == "200")
        #expect(response.fields == [Frame.Field(name: "x-method", value: "GET"),
                                    Frame.Field(name: "x-path", value: "/http-types"),
                                    Frame.Field(name: "x-authority", value: "localhost"),
                                    Frame.Field(name: "x-secret-strategy", value: "disallow"),
                                    Frame.Field(name: "x-token", value: "t0ps3cret", neverIndexed: true)])
    }
}
