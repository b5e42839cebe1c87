import SwiftletHTTP2
import SwiftletLoop
import SwiftletTestSupport
import Glibc
import Testing

/// Each limit in `Limits` against the attack it bounds: the attack is sent,
/// the exact reaction is asserted. A manual clock keeps token buckets from
/// refilling and lets timeouts pass instantly.
@Suite("HTTP/2 attacks and limits", .serialized)
struct AttackTests {
    let clock = ManualClock()

    func server(_ wire: TestServer.Wire = .memory,
                _ configure: @escaping @Sendable (inout HTTP2Configuration) -> Void = { _ in }) throws -> TestServer {
        try TestServer(wire, clock: clock, configure: configure)
    }

    @Test("ping flood (CVE-2019-9512): more than 1000 unanswered PINGs → ENHANCE_YOUR_CALM")
    func pingFlood() throws {
        let server = try server()
        try server.expectConnectionError({ _ in (0..<1001).flatMap { FrameClient.ping(UInt64($0)) } },
                                         code: .enhanceYourCalm, token: "ping_flood")
        // 1000 are fine (999 here, plus the PING of expectAlive).
        let client = try server.client()
        try client.send((0..<999).flatMap { FrameClient.ping(UInt64($0)) })
        try client.expectAlive()
    }

    @Test("settings flood (CVE-2019-9515): more than 1000 unanswered SETTINGS → ENHANCE_YOUR_CALM")
    func settingsFlood() throws {
        let server = try server()
        try server.expectConnectionError({ _ in (0..<1001).flatMap { _ in FrameClient.settings([(.maxHeaderListSize, 4096)]) } },
                                         code: .enhanceYourCalm, token: "settings_flood")
    }

    @Test("more than 32 parameters in one SETTINGS → ENHANCE_YOUR_CALM")
    func oversizedSettings() throws {
        let server = try server()
        try server.expectConnectionError({ _ in FrameClient.settings((0..<33).map { _ in (.maxHeaderListSize, 4096) }) },
                                         code: .enhanceYourCalm, token: "settings_flood")
    }

    @Test("rapid reset (CVE-2023-44487): the 1001st reset → ENHANCE_YOUR_CALM")
    func rapidReset() throws {
        let server = try server()
        let client = try server.client()
        var id: UInt32 = 1
        // Batches of 100 open+reset pairs, each in its own turn (the PING
        // round trip separates turns), so the per-turn stream cap is not what trips.
        for _ in 0..<10 {
            var bytes: [UInt8] = []
            for _ in 0..<100 {
                bytes += client.headers(stream: id, FrameClient.get("/hold"), endStream: true) + FrameClient.rstStream(stream: id, code: .cancel)
                id += 2
            }
            try client.send(bytes)
            try client.expectAlive()
        }
        try client.send(client.headers(stream: id, FrameClient.get("/hold"), endStream: true) + FrameClient.rstStream(stream: id, code: .cancel))
        let goAway = try client.expectGoAway()
        #expect(goAway.code == .enhanceYourCalm)
        #expect(try server.rejections("rapid_reset") == 1)
    }

    @Test("MadeYouReset (CVE-2025-8671): resets the peer provokes draw on the same budget")
    func madeYouReset() throws {
        let server = try server()
        let client = try server.client()
        var id: UInt32 = 1
        // Each stream: open it, then send WINDOW_UPDATE 0 on it, a stream error we answer with RST_STREAM.
        for batch in 0..<11 {
            var bytes: [UInt8] = []
            for _ in 0..<100 {
                bytes += client.headers(stream: id, FrameClient.get("/hold"), endStream: true) + FrameClient.windowUpdate(stream: id, increment: 0)
                id += 2
            }
            try client.send(bytes)
            if batch < 9 { try client.expectAlive() }
        }
        let goAway = try client.expectGoAway()
        #expect(goAway.code == .enhanceYourCalm)
        #expect(try server.rejections("rapid_reset") == 1)
        #expect(try server.rejections("window_update_zero") >= 1000)
    }

    @Test("more than 2 × max concurrent streams new streams in one turn → ENHANCE_YOUR_CALM")
    func streamsPerTurn() throws {
        let server = try server { $0.limits.maxConcurrentStreams = 10 }
        try server.expectConnectionError({ client in
            (0..<21).flatMap { index in client.headers(stream: UInt32(2 * index + 1), FrameClient.get("/hello"), endStream: true) }
        }, code: .enhanceYourCalm, token: "stream_flood")
    }

    @Test("a stream counts against the concurrency limit until its handler is done")
    func resetStreamsStillCount() throws {
        let server = try server { $0.limits.maxConcurrentStreams = 2 }
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.get("/hold"), endStream: true) + client.headers(stream: 3, FrameClient.get("/hold"), endStream: true))
        try client.expectAlive()
        try client.send(client.headers(stream: 5, FrameClient.get("/hold"), endStream: true))
        #expect(try client.expectReset(stream: 5) == .refusedStream)
    }

    @Test("CONTINUATION flood: more than max(⌈list/frame⌉ × 1.25, 5) CONTINUATION frames → ENHANCE_YOUR_CALM")
    func continuationFlood() throws {
        let server = try server()
        // 64 KiB list / 16 KiB frames = 4 → 5 frames allowed.
        try server.expectConnectionError({ client in
            client.headers(stream: 1, block: [0x82], endHeaders: false)
                + (0..<6).flatMap { _ in FrameClient.continuation(stream: 1, [], endHeaders: false) }
        }, code: .enhanceYourCalm, token: "continuation_flood")
    }

    @Test("a raw header block above 4 × the header list limit → ENHANCE_YOUR_CALM")
    func headerBlockTooLarge() throws {
        let server = try server { $0.limits.maxHeaderListSize = 4096 }
        // 16 KiB allowed: HEADERS of 10 000 + CONTINUATION of 10 000 exceeds it.
        try server.expectConnectionError({ client in
            client.headers(stream: 1, block: [UInt8](repeating: 0x82, count: 10_000), endHeaders: false)
                + FrameClient.continuation(stream: 1, [UInt8](repeating: 0x82, count: 10_000), endHeaders: false)
        }, code: .enhanceYourCalm, token: "header_block_too_large")
    }

    @Test("HPACK bomb: a block decoding beyond the header list limit → COMPRESSION_ERROR")
    func hpackBomb() throws {
        let server = try server { $0.limits.maxHeaderListSize = 16 * 1024 }
        var block: [UInt8] = [0x82, 0x86, 0x84, 0x40, 0x01, 0x78, 0x7F, 0xA1, 0x1E]  // GET http / then x: 4000 bytes
        block += [UInt8](repeating: 0x62, count: 4000)
        block += [UInt8](repeating: 0xBE, count: 5)  // five references: 20 KB decoded from 5 bytes
        try server.expectConnectionError({ $0.headers(stream: 1, block: block, endStream: true) },
                                         code: .compressionError, token: "hpack_header_list_too_large")
    }

    @Test("empty-frame flood (CVE-2019-9518): two empty DATA frames without END_STREAM → ENHANCE_YOUR_CALM")
    func emptyDataFlood() throws {
        let server = try server()
        try server.expectConnectionError({ client in
            client.headers(stream: 1, FrameClient.post("/echo")) + FrameClient.data(stream: 1, []) + FrameClient.data(stream: 1, [])
        }, code: .enhanceYourCalm, token: "empty_data_flood")
    }

    @Test("small-frame dribble: more than 10 000 small DATA frames → ENHANCE_YOUR_CALM")
    func smallFrameFlood() throws {
        let server = try server()
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.post("/echo")))
        var bytes: [UInt8] = []
        for _ in 0..<10_001 { bytes += FrameClient.data(stream: 1, [1]) }
        try client.send(bytes)
        #expect(try client.expectGoAway().code == .enhanceYourCalm)
        #expect(try server.rejections("small_frame_flood") == 1)
    }

    @Test("glitches: more than 1000 unknown frames → ENHANCE_YOUR_CALM")
    func glitchFlood() throws {
        let server = try server()
        try server.expectConnectionError({ _ in (0..<1001).flatMap { _ in FrameClient.frame(FrameType(rawValue: 0xF0), stream: 0) } },
                                         code: .enhanceYourCalm, token: "too_many_glitches")
    }

    @Test("priority churn: more than 1000 PRIORITY frames → ENHANCE_YOUR_CALM")
    func priorityChurn() throws {
        let server = try server()
        try server.expectConnectionError({ _ in (0..<1001).flatMap { FrameClient.priority(stream: UInt32(2 * $0 + 1), dependsOn: 0) } },
                                         code: .enhanceYourCalm, token: "too_many_glitches")
    }

    // MARK: slowloris

    @Test("no preface within 10 s → connection closed (GOAWAY PROTOCOL_ERROR)")
    func prefaceTimeout() throws {
        let server = try server()
        let client = try server.rawClient(preface: false)
        try client.send(Array("PRI * HTTP/2".utf8))
        try server.turn()
        clock.advance(by: .seconds(11))
        try server.turn()
        #expect(try client.expectGoAway().code == .protocolError)
        #expect(client.readsToEOF())
        #expect(try server.rejections("preface_timeout") == 1)
    }

    @Test("our SETTINGS unacknowledged within 10 s → SETTINGS_TIMEOUT")
    func settingsTimeout() throws {
        let server = try server()
        let client = try server.rawClient()  // sends preface + SETTINGS, never ACKs ours
        try server.turn()
        clock.advance(by: .seconds(11))
        try server.turn()
        #expect(try client.expectGoAway().code == .settingsTimeout)
        #expect(try server.rejections("settings_timeout") == 1)
    }

    @Test("a header block not completed within 10 s → PROTOCOL_ERROR")
    func headerBlockTimeout() throws {
        let server = try server()
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.get("/hello"), endStream: true, endHeaders: false))
        try client.expectNoReactionWithoutPing()
        clock.advance(by: .seconds(11))
        try server.turn()
        #expect(try client.expectGoAway().code == .protocolError)
        #expect(try server.rejections("header_block_timeout") == 1)
    }

    @Test("an idle connection is closed after the idle timeout with GOAWAY NO_ERROR")
    func idleTimeout() throws {
        let server = try server()
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.get("/hello"), endStream: true))
        _ = try client.response(stream: 1)
        clock.advance(by: .seconds(30))
        try server.turn()
        try client.expectAlive()
        clock.advance(by: .seconds(31))
        try server.turn()
        let goAway = try client.expectGoAway()
        #expect(goAway.code == .noError && goAway.lastStreamID == 1)
        #expect(client.readsToEOF())
    }

    @Test("a peer that never reads: reading stops, and after the write timeout the connection is dropped")
    func neverReadingPeer() throws {
        // Socket buffers and the write timeout: a real socket.
        let server = try server(.socket(.epoll)) { $0.limits.maxConcurrentStreams = 100 }
        let client = try server.client(settings: [(.initialWindowSize, 0x7FFF_FFFF)])
        try client.send(FrameClient.windowUpdate(stream: 0, increment: 0x7FFF_FFFF - 65_535))
        client.socket.setReceiveBuffer(4096)
        for index in 0..<20 { try client.send(client.headers(stream: UInt32(2 * index + 1), FrameClient.get("/size/4000000"), endStream: true)) }
        // Let the server fill the socket and its own output.
        for _ in 0..<20 { try server.turn() }
        #expect(try server.harness.onLoop { loop in loop.connectionCount } == 1)
        // Checks run every quarter timeout; after a full timeout without progress it is dropped.
        for _ in 0..<5 {
            clock.advance(by: .seconds(15))
            try server.turn()
        }
        #expect(try server.harness.waitUntil { $0.connectionCount == 0 }, "the write timeout closed it")
        #expect(try server.connectionEvents("write_timeout") == 1)
        #expect(try server.rejections("write_timeout") == 0, "a timeout is an event, not a rejection")
    }

    // MARK: lifetime

    @Test("GOAWAY after max requests per connection; the last request still completes")
    func maxRequestsPerConnection() throws {
        let server = try server { $0.limits.maxRequestsPerConnection = 3 }
        let client = try server.client()
        for id in [UInt32(1), 3] {
            try client.send(client.headers(stream: id, FrameClient.get("/hello"), endStream: true))
            #expect(try client.response(stream: id).status == "200")
        }
        try client.send(client.headers(stream: 5, FrameClient.get("/hello"), endStream: true))
        let (first, _) = try client.read { if case .goAway = $0 { true } else { false } }
        #expect(first == .goAway(lastStreamID: 0x7FFF_FFFF, code: .noError, debug: ""))
        let (ping, _) = try client.read { if case .ping(false, _) = $0 { true } else { false } }
        guard case .ping(_, let payload) = ping else { return }
        try client.send(FrameClient.ping(payload, ack: true))
        var sawFinal = false
        var sawResponse = false
        while let frame = try client.readFrame() {
            if frame == .goAway(lastStreamID: 5, code: .noError, debug: "") { sawFinal = true }
            if case .data(5, _, true) = frame { sawResponse = true }
        }
        #expect(sawFinal && sawResponse, "final GOAWAY with the last stream id; stream 5 completed; then close")
    }

    @Test("GOAWAY before stream ids run out: a stream id near 2^31-1 starts the graceful shutdown")
    func streamIDsRunningOut() throws {
        let server = try server()
        let client = try server.client()
        // §5.1.1: "Stream identifiers cannot be reused." Within 2 × max
        // concurrent streams of the end, the client must be told to reconnect.
        let id = UInt32(0x7FFF_FFFF - 2 * 100 + 2)
        try client.send(client.headers(stream: id, FrameClient.get("/hello"), endStream: true))
        let (first, _) = try client.read { if case .goAway = $0 { true } else { false } }
        #expect(first == .goAway(lastStreamID: 0x7FFF_FFFF, code: .noError, debug: ""))
        let (ping, _) = try client.read { if case .ping(false, _) = $0 { true } else { false } }
        guard case .ping(_, let payload) = ping else { return }
        try client.send(FrameClient.ping(payload, ack: true))
        var sawFinal = false
        var sawResponse = false
        while let frame = try client.readFrame() {
            if frame == .goAway(lastStreamID: id, code: .noError, debug: "") { sawFinal = true }
            if case .data(id, _, true) = frame { sawResponse = true }
        }
        #expect(sawFinal && sawResponse, "final GOAWAY names the stream, which completed; then close")
    }

    @Test("graceful shutdown: GOAWAY 2^31-1 and PING, then GOAWAY with the last id; open streams finish")
    func gracefulShutdown() throws {
        let server = try server()
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.post("/echo")))
        try client.expectAlive()
        try server.shutDownGracefully()
        let (first, _) = try client.read { if case .goAway = $0 { true } else { false } }
        #expect(first == .goAway(lastStreamID: 0x7FFF_FFFF, code: .noError, debug: ""))
        // A stream started before the PING round trip is still accepted.
        try client.send(client.headers(stream: 3, FrameClient.get("/hello"), endStream: true))
        let (ping, _) = try client.read { if case .ping(false, _) = $0 { true } else { false } }
        guard case .ping(_, let payload) = ping else { return }
        try client.send(FrameClient.ping(payload, ack: true))
        let (final, _) = try client.read { if case .goAway = $0 { true } else { false } }
        #expect(final == .goAway(lastStreamID: 3, code: .noError, debug: ""))
        // Streams above the last id are ignored; stream 1 can still finish.
        try client.send(client.headers(stream: 5, FrameClient.get("/hello"), endStream: true))
        try client.send(FrameClient.data(stream: 1, Array("bye".utf8), endStream: true))
        var echoed: [UInt8] = []
        var stream5 = false
        while let frame = try client.readFrame() {
            if case .data(1, let bytes, _) = frame { echoed += bytes }
            if case .headers(5, _, _) = frame { stream5 = true }
        }
        #expect(echoed == Array("bye".utf8))
        #expect(!stream5)
    }
}

extension FrameClient {
    /// Nothing arrives within a short wait (for states where a PING would be
    /// a protocol violation, such as inside a header block).
    func expectNoReactionWithoutPing() throws {
        // In memory, "nothing now" is exact; over a socket, wait a little.
        if let socketWire = wire as? SocketWire {
            var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
            setsockopt(socketWire.client.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        defer {
            if let socketWire = wire as? SocketWire {
                var restore = timeval(tv_sec: 5, tv_usec: 0)
                setsockopt(socketWire.client.fd, SOL_SOCKET, SO_RCVTIMEO, &restore, socklen_t(MemoryLayout<timeval>.size))
            }
        }
        do {
            let frame = try readFrame()
            Issue.record("unexpected \(String(describing: frame))")
        } catch FrameClientError.timeout {
        }
    }
}
