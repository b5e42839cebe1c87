import SwiftletHTTP2
import SwiftletLoop
import SwiftletTestSupport
import Testing

/// RFC 9113 §5.1 (stream states), §5.1.1-2 (identifiers, concurrency),
/// §5.2/§6.9 (flow control) and §8.1 (message framing).
@Suite("RFC 9113 §5, §6.9, §8.1: streams and flow control", .serialized)
struct StreamAndFlowTests {
    let server: TestServer
    init() throws { server = try TestServer { $0.limits.maxConcurrentStreams = 4 } }

    // MARK: §5.1 states

    @Test("§5.1 idle: DATA is a connection PROTOCOL_ERROR")
    func dataOnIdle() throws {
        try server.expectConnectionError({ _ in FrameClient.data(stream: 1, [1], endStream: true) }, code: .protocolError, token: "frame_on_idle_stream")
    }

    @Test("§5.1 half-closed (remote): DATA is a stream STREAM_CLOSED")
    func dataOnHalfClosedRemote() throws {
        try server.expectStreamError({ $0.headers(stream: 1, FrameClient.get("/hold"), endStream: true) + FrameClient.data(stream: 1, [1]) },
                                     stream: 1, code: .streamClosed, token: "frame_on_half_closed_stream")
    }

    @Test("§5.1 half-closed (remote): HEADERS is a stream STREAM_CLOSED")
    func headersOnHalfClosedRemote() throws {
        try server.expectStreamError({ c in c.headers(stream: 1, FrameClient.get("/hold"), endStream: true) + c.headers(stream: 1, [("x", "y")], endStream: true) },
                                     stream: 1, code: .streamClosed, token: "frame_on_half_closed_stream")
    }

    @Test("§5.1 closed (both END_STREAMs): HEADERS is a connection STREAM_CLOSED")
    func headersOnClosed() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.get("/hello"), endStream: true))
        _ = try client.response(stream: 1)
        try client.send(client.headers(stream: 1, FrameClient.get("/hello"), endStream: true))
        #expect(try client.expectGoAway().code == .streamClosed)
    }

    @Test("§5.1 closed (both END_STREAMs): DATA is a stream STREAM_CLOSED")
    func dataOnClosed() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.get("/hello"), endStream: true))
        _ = try client.response(stream: 1)
        try server.expectStreamError({ _ in FrameClient.data(stream: 1, [1, 2]) }, stream: 1, code: .streamClosed,
                                     token: "data_on_closed_stream", client: client)
    }

    @Test("§5.1 closed by our RST_STREAM: later frames are ignored")
    func framesAfterOurReset() throws {
        let client = try server.client()
        // Stream error: uppercase name → we reset stream 1.
        try client.send(client.headers(stream: 1, FrameClient.post("/echo", extra: [("X-Upper", "1")])))
        #expect(try client.expectReset(stream: 1) == .protocolError)
        try client.send(FrameClient.data(stream: 1, [1, 2, 3]) + FrameClient.data(stream: 1, [4], endStream: true))
        try client.expectNoReaction()
    }

    @Test("§5.1 RST_STREAM after a stream closed is ignored; WINDOW_UPDATE too")
    func lateResetAndWindowUpdate() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.get("/hello"), endStream: true))
        _ = try client.response(stream: 1)
        try client.send(FrameClient.rstStream(stream: 1, code: .cancel) + FrameClient.windowUpdate(stream: 1, increment: 100))
        try client.expectNoReaction()
    }

    // MARK: §5.1.1 identifiers

    @Test("§5.1.1 an even client stream id is PROTOCOL_ERROR")
    func evenStreamID() throws {
        try server.expectConnectionError({ $0.headers(stream: 2, FrameClient.get("/hello"), endStream: true) }, code: .protocolError, token: "even_stream_id")
    }

    @Test("§5.1.1 a stream id lower than one already used is PROTOCOL_ERROR")
    func decreasingStreamID() throws {
        try server.expectConnectionError({ c in
            c.headers(stream: 5, FrameClient.get("/hello"), endStream: true) + c.headers(stream: 3, FrameClient.get("/hello"), endStream: true)
        }, code: .protocolError, token: "stream_id_not_increasing")
    }

    // MARK: §5.1.2 concurrency

    @Test("§5.1.2 streams beyond SETTINGS_MAX_CONCURRENT_STREAMS are refused with REFUSED_STREAM")
    func refusedStream() throws {
        let client = try server.client()
        var bytes: [UInt8] = []
        for id in stride(from: UInt32(1), through: 7, by: 2) { bytes += client.headers(stream: id, FrameClient.get("/hold"), endStream: true) }
        try server.expectStreamError({ c in bytes + c.headers(stream: 9, FrameClient.get("/hold"), endStream: true) },
                                     stream: 9, code: .refusedStream, token: "max_concurrent_streams", client: client)
        // When one finishes, a new one is accepted.
        try client.send(FrameClient.rstStream(stream: 1, code: .cancel))
        try client.send(client.headers(stream: 11, FrameClient.get("/hello"), endStream: true))
        #expect(try client.response(stream: 11).status == "200")
    }

    // MARK: §6.9 flow control, receiving

    @Test("§6.9.1 DATA beyond the stream window is a stream FLOW_CONTROL_ERROR")
    func streamWindowExceeded() throws {
        let client = try server.client()
        // /pause does not read: the window stays at the initial 65 535.
        try client.send(client.headers(stream: 1, FrameClient.post("/pause")))
        var bytes: [UInt8] = []
        for _ in 0..<4 { bytes += FrameClient.data(stream: 1, [UInt8](repeating: 1, count: 16_384)) }
        bytes += FrameClient.data(stream: 1, [UInt8](repeating: 1, count: 16_384))
        try server.expectStreamError({ _ in bytes }, stream: 1, code: .flowControlError, token: "stream_window_exceeded", client: client)
    }

    @Test("§6.9 WINDOW_UPDATE follows consumption: the stream window is raised once the handler reads")
    func windowUpdatesFollowConsumption() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.post("/echo")))
        try client.send(FrameClient.data(stream: 1, [UInt8](repeating: 7, count: 1000)))
        let (update, _) = try client.read { if case .windowUpdate(1, _) = $0 { true } else { false } }
        // 1 MiB stream window: 65 535 advertised, 1000 consumed → raise by the difference plus the consumed bytes.
        #expect(update == .windowUpdate(stream: 1, increment: (1 << 20) - 65_535 + 1000))
        try client.send(FrameClient.data(stream: 1, [], endStream: true))
        #expect(try client.response(stream: 1).body.count == 1000)
    }

    @Test("§6.9 a paused handler's body is buffered within the window and delivered on resume")
    func pausedBodyIsBuffered() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.post("/pause")))
        // 60 000 bytes in frames of at most 16 KiB (SETTINGS_MAX_FRAME_SIZE).
        for chunk in 0..<3 { try client.send(FrameClient.data(stream: 1, [UInt8](repeating: UInt8(chunk), count: 16_000))) }
        try client.send(FrameClient.data(stream: 1, [UInt8](repeating: 4, count: 12_000), endStream: true))
        try client.expectNoReaction()
        let handler = server.handler
        #expect(handler.value.bodies.get()[1] == nil, "nothing delivered while paused")
        try server.onLoop { handler.value.held[1]?.resumeRequestBody() }
        let response = try client.response(stream: 1)
        #expect(response.status == "200")
        #expect(handler.value.bodies.get()[1] == 60_000)
    }

    // MARK: §6.9 flow control, sending

    @Test("§6.9 the server never exceeds the client's stream window; WINDOW_UPDATE releases more")
    func respectsStreamWindow() throws {
        let client = try server.client(settings: [(.initialWindowSize, 10)])
        try client.send(client.headers(stream: 1, FrameClient.get("/size/100"), endStream: true))
        var received = 0
        let (head, _) = try client.read { if case .headers(1, _, _) = $0 { true } else { false } }
        #expect(head != .other(type: 0, stream: 0))
        while received < 10 {
            let (frame, _) = try client.read { if case .data(1, _, _) = $0 { true } else { false } }
            if case .data(_, let bytes, _) = frame { received += bytes.count }
        }
        #expect(received == 10)
        try client.expectNoReaction()
        // One byte at a time, then the rest.
        try client.send(FrameClient.windowUpdate(stream: 1, increment: 1))
        let (one, _) = try client.read { if case .data(1, _, _) = $0 { true } else { false } }
        if case .data(_, let bytes, _) = one { #expect(bytes.count == 1) }
        try client.send(FrameClient.windowUpdate(stream: 1, increment: 89))
        let (rest, _) = try client.read { if case .data(1, _, _) = $0 { true } else { false } }
        #expect(rest == .data(stream: 1, bytes: Array(Pattern.bytes(100)[11...]), endStream: true))
    }

    @Test("§6.9.2 a SETTINGS_INITIAL_WINDOW_SIZE change applies to open streams")
    func initialWindowChangeAppliesToOpenStreams() throws {
        let client = try server.client(settings: [(.initialWindowSize, 0)])
        try client.send(client.headers(stream: 1, FrameClient.get("/size/5000"), endStream: true))
        try client.expectNoReaction()
        try client.send(FrameClient.settings([(.initialWindowSize, 5000)]))
        var body: [UInt8] = []
        while true {
            let (frame, _) = try client.read { if case .data(1, _, _) = $0 { true } else { false } }
            guard case .data(_, let bytes, let end) = frame else { break }
            body += bytes
            if end { break }
        }
        #expect(body == Pattern.bytes(5000))
    }

    @Test("§6.9.2 a SETTINGS_INITIAL_WINDOW_SIZE change that overflows a stream window is FLOW_CONTROL_ERROR")
    func initialWindowChangeOverflow() throws {
        try server.expectConnectionError({ c in
            c.headers(stream: 1, FrameClient.get("/hold"), endStream: true)
                + FrameClient.windowUpdate(stream: 1, increment: 0x7FFF_FFFF - 65_535)
                + FrameClient.settings([(.initialWindowSize, 65_536)])
        }, code: .flowControlError, token: "settings_window_overflow")
    }

    // MARK: §8.1 message framing

    @Test("§8.1 trailers end the request and reach the handler")
    func requestTrailers() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.post("/echo")) + FrameClient.data(stream: 1, Array("body".utf8)))
        try client.send(client.headers(stream: 1, [("x-checksum", "abc")], endStream: true))
        let response = try client.response(stream: 1)
        #expect(response.body == Array("body".utf8))
        #expect(response.trailers == [Frame.Field(name: "x-checksum", value: "abc")], "echoed as response trailers")
    }

    @Test("§8.1 trailers without END_STREAM make the request malformed")
    func trailersWithoutEndStream() throws {
        try server.expectStreamError({ c in c.headers(stream: 1, FrameClient.post("/echo")) + c.headers(stream: 1, [("x-t", "1")]) },
                                     stream: 1, code: .protocolError, token: "trailers_without_end_stream")
    }

    @Test("§8.1.1 DATA that disagrees with content-length makes the request malformed", arguments: [3, 5])
    func contentLengthMismatch(bytes: Int) throws {
        try server.expectStreamError({ c in
            c.headers(stream: 1, FrameClient.post("/echo", extra: [("content-length", "4")]))
                + FrameClient.data(stream: 1, [UInt8](repeating: 1, count: bytes), endStream: true)
        }, stream: 1, code: .protocolError, token: "content_length_mismatch")
    }

    @Test("§8.1 a response that completes before the request ends: the rest of the request is read and the stream ends normally")
    func earlyResponseThenRequestEnds() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.post("/hello")))
        #expect(try client.response(stream: 1).body == Array("hello".utf8))
        try client.expectNoReaction()
        try client.send(FrameClient.data(stream: 1, [1, 2, 3], endStream: true))
        try client.expectNoReaction()
        #expect(server.events.filter { $0.hasPrefix("close 1") }.count == 1, "\(server.events)")
    }

    @Test("§8.1.1 after an early response, DATA beyond content-length is still a stream PROTOCOL_ERROR")
    func earlyResponseStillChecksContentLength() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.post("/hello", extra: [("content-length", "1")])))
        _ = try client.response(stream: 1)
        try client.send(FrameClient.data(stream: 1, Array("test".utf8), endStream: true))
        #expect(try client.expectReset(stream: 1) == .protocolError)
        #expect(try server.rejections("content_length_mismatch") == 1)
    }

    @Test("§8.1 after an early response, trailers without END_STREAM are still a stream PROTOCOL_ERROR")
    func earlyResponseStillChecksTrailers() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.post("/hello")))
        _ = try client.response(stream: 1)
        try client.send(client.headers(stream: 1, [("x-t", "1")]))
        #expect(try client.expectReset(stream: 1) == .protocolError)
    }

    @Test("§6.9 after an early response, a WINDOW_UPDATE of 0 on the stream is still a stream PROTOCOL_ERROR")
    func earlyResponseStillChecksWindowUpdate() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.post("/hello")))
        _ = try client.response(stream: 1)
        try client.send(FrameClient.windowUpdate(stream: 1, increment: 0))
        #expect(try client.expectReset(stream: 1) == .protocolError)
    }

    @Test("§5.1 after an early response and the peer's RST_STREAM, DATA is a stream STREAM_CLOSED")
    func earlyResponseThenPeerReset() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.post("/hello")))
        _ = try client.response(stream: 1)
        try client.send(FrameClient.rstStream(stream: 1, code: .cancel) + FrameClient.data(stream: 1, [1]))
        #expect(try client.expectReset(stream: 1) == .streamClosed)
    }

    @Test("§8.1 past the drain allowance, a request that uses up its stream window after an early response is reset with NO_ERROR at once")
    func earlyResponseDrainBoundedByWindow() throws {
        let server = try TestServer { $0.limits.requestDrainAllowance = 0 }
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.post("/hello")))
        _ = try client.response(stream: 1)
        try client.send(Self.data(stream: 1, count: 65_535))
        #expect(try client.expectReset(stream: 1) == .noError)
        let drained = server.counters
        #expect(try server.onLoop { drained.value.requestDrainResets } == 1)
    }

    @Test("§8.1 within the drain allowance, a request after an early response earns window credit and is read to its end")
    func earlyResponseDrainAllowance() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.post("/hello")))
        #expect(try client.response(stream: 1).status == "200")
        try client.send(Self.data(stream: 1, count: 32_768))
        let (update, _) = try client.read { if case .windowUpdate(1, _) = $0 { true } else { false } }
        #expect(update == .windowUpdate(stream: 1, increment: 32_768), "the discarded bytes' credit comes back")
        // 32 767 of the first window left plus 32 768 returned: more than the
        // initial window in all.
        try client.send(Self.data(stream: 1, count: 65_535, endStream: true))
        try client.expectNoReaction()
        let drained = server.counters
        #expect(try server.onLoop { drained.value.requestDrainResets } == 0)
    }

    /// `count` bytes of request body on `stream` in DATA frames of at most 16 KiB.
    static func data(stream: UInt32, count: Int, endStream: Bool = false) -> [UInt8] {
        var remaining = count
        var frames: [UInt8] = []
        while remaining > 0 {
            let length = min(remaining, 16_384)
            remaining -= length
            frames += FrameClient.data(stream: stream, [UInt8](repeating: 7, count: length), endStream: endStream && remaining == 0)
        }
        return frames
    }

    @Test("a response without body: HEADERS with END_STREAM")
    func noBody() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.get("/nobody"), endStream: true))
        let (frame, _) = try client.read { if case .headers(1, _, _) = $0 { true } else { false } }
        #expect(frame == .headers(stream: 1, fields: [Frame.Field(name: ":status", value: "204")], endStream: true))
    }

    @Test("many concurrent streams with large bodies are multiplexed completely")
    func multiplexing() throws {
        let client = try server.client()
        for index in 0..<4 {
            try client.send(client.headers(stream: UInt32(2 * index + 1), FrameClient.get("/size/300000"), endStream: true))
        }
        var bodies: [UInt32: Int] = [:]
        var finished = 0
        var consumed = 0
        while finished < 4 {
            guard let frame = try client.readFrame() else { break }
            if case .data(let stream, let bytes, let end) = frame {
                bodies[stream, default: 0] += bytes.count
                consumed += bytes.count
                if end { finished += 1 }
                // Keep the windows open like a real client.
                if consumed >= 32_768 {
                    try client.send(FrameClient.windowUpdate(stream: 0, increment: UInt32(consumed)))
                    consumed = 0
                }
                if bytes.count > 0 { try client.send(FrameClient.windowUpdate(stream: stream, increment: UInt32(bytes.count))) }
            }
        }
        #expect(bodies == [1: 300_000, 3: 300_000, 5: 300_000, 7: 300_000])
    }
}
