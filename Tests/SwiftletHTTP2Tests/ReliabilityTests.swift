import SwiftletHTTP2
import SwiftletLoop
import SwiftletTestSupport
import Testing

/// Attacks that the limits already stop, checked for what they still cost
/// afterwards: a connection cut off for an error reads nothing more, a
/// stream reset in the same read as its HEADERS never reaches the handler,
/// and a peer that keeps its windows a few bytes wide is cut off.
@Suite("HTTP/2 reliability: what an attack costs once detected", .serialized)
struct ReliabilityTests {
    let clock = ManualClock()

    func server(_ configure: @escaping @Sendable (inout HTTP2Configuration) -> Void = { _ in }) throws -> TestServer {
        try TestServer(.socket(.epoll), clock: clock, configure: configure)
    }

    /// Bytes the server's first connection has read so far.
    func bytesReceived(_ server: TestServer) throws -> UInt64 {
        let connections = server.connections
        return try server.harness.onLoop { _ in connections.value.all.first?.connection.bytesReceived ?? 0 }
    }

    @Test("after the GOAWAY for a ping flood, what the peer keeps sending is not read (§5.4.1)")
    func floodAfterGoAwayIsNotRead() throws {
        let server = try server()
        let client = try server.client()
        // Never reads the PING ACKs: the 1001st unanswered PING is the error.
        try client.send((0..<1001).flatMap { FrameClient.ping(UInt64($0)) })
        #expect(try client.expectGoAway().code == .enhanceYourCalm)
        let before = try bytesReceived(server)
        // The flood goes on: 32 KiB more PINGs.
        try client.send((0..<1920).flatMap { FrameClient.ping(UInt64($0)) })
        for _ in 0..<5 { try server.turn() }
        let after = try bytesReceived(server)
        #expect(after - before == 0, "read \(after - before) bytes after the GOAWAY")
        // The GOAWAY was followed by our FIN: the peer sees the close at once.
        #expect(client.readsToEOF())
        #expect(try server.rejections("ping_flood") == 1)
    }

    @Test("after the GOAWAY for a reset flood, nothing more is read either")
    func resetFloodAfterGoAwayIsNotRead() throws {
        let server = try server { $0.limits.resetBurst = 50 }
        let client = try server.client()
        var bytes: [UInt8] = []
        for index in 0..<60 { bytes += FrameClient.rstStream(stream: UInt32(2 * index + 1), code: .cancel) }
        // Open the streams first (each waits for its handler), then reset them all.
        var opening: [UInt8] = []
        for index in 0..<60 { opening += client.headers(stream: UInt32(2 * index + 1), FrameClient.get("/hold"), endStream: true) }
        try client.send(opening)
        try client.expectAlive()
        try client.send(bytes)
        #expect(try client.expectGoAway().code == .enhanceYourCalm)
        let before = try bytesReceived(server)
        try client.send((0..<1000).flatMap { _ in FrameClient.rstStream(stream: 1, code: .cancel) })
        for _ in 0..<5 { try server.turn() }
        #expect(try bytesReceived(server) == before)
        #expect(try server.rejections("rapid_reset") == 1)
    }

    @Test("§8.1 a request still open after its complete response is reset with NO_ERROR once the drain timeout passes")
    func earlyResponseDrainBoundedByTime() throws {
        let server = try server { $0.limits.requestDrainTimeout = .seconds(1) }
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.post("/hello")))
        #expect(try client.response(stream: 1).body == Array("hello".utf8))
        clock.advance(by: .milliseconds(900))
        try server.turn()
        try client.expectNoReaction()
        clock.advance(by: .milliseconds(200))
        try server.turn()
        #expect(try client.expectReset(stream: 1) == .noError)
        // A frame for it now is a late frame of a stream we reset: ignored.
        try client.send(FrameClient.data(stream: 1, [1], endStream: true))
        try client.expectNoReaction()
    }

    @Test("HEADERS and its RST_STREAM in one read: the handler never starts, no response is produced")
    func resetInSameReadNeverStarts() throws {
        let server = try server()
        let client = try server.client()
        var bytes: [UInt8] = []
        for index in 0..<50 {
            let id = UInt32(2 * index + 1)
            bytes += client.headers(stream: id, FrameClient.get("/hello"), endStream: true) + FrameClient.rstStream(stream: id, code: .cancel)
        }
        try client.send(bytes)
        let marker: UInt64 = 0x5EED
        try client.send(FrameClient.ping(marker))
        let (_, before) = try client.read { $0 == .ping(ack: true, payload: marker) }
        let responses = before.filter { if case .headers = $0 { true } else { false } }
        #expect(responses.isEmpty, "responses to reset streams: \(responses)")
        #expect(!server.events.contains { $0.hasPrefix("start") }, "\(server.events)")
        // The resets drew on the reset budget, and the connection still serves.
        try client.send(client.headers(stream: 101, FrameClient.get("/hello"), endStream: true))
        #expect(try client.response(stream: 101).body == Array("hello".utf8))
    }

    @Test("a request body that arrives with its HEADERS reaches the handler after the start, in order")
    func bodyInSameReadIsDeliveredAfterStart() throws {
        let server = try server()
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.post("/echo"))
            + FrameClient.data(stream: 1, Array(repeating: 0x61, count: 1000))
            + FrameClient.data(stream: 1, Array(repeating: 0x62, count: 24), endStream: true))
        let response = try client.response(stream: 1)
        #expect(response.status == "200")
        #expect(response.body == Array(repeating: 0x61, count: 1000) + Array(repeating: 0x62, count: 24))
        #expect(server.events.prefix(2) == ["start 1 POST /echo", "finish 1 trailers=0"])
    }

    @Test("window dribble: after a stream's first tiny frame each waits the dribble delay; half the budget → graceful GOAWAY, all of it → ENHANCE_YOUR_CALM")
    func windowDribble() throws {
        // 40 tokens, refilling 1 per second: under one over the 39 delays of 25 ms.
        let server = try server {
            $0.limits.dribbleBurst = 40
            $0.limits.dribblesPerSecond = 1
        }
        let client = try server.client(settings: [(.initialWindowSize, 16)])
        var tinyFrames = 0
        var graceful: Int?
        var final: ErrorCode?
        var marker: UInt64 = 1
        // The request opens the stream on a 16-byte window: its first tiny
        // frame is sent at once (a peer may start small) and not counted.
        try client.send(client.headers(stream: 1, FrameClient.get("/size/100000"), endStream: true))
        let (first, _) = try client.read { if case .data = $0 { true } else { false } }
        if case .data(1, let bytes, false) = first { #expect(bytes.count == 16) } else { Issue.record("\(first)") }
        // Each round opens the window by 16 bytes. The PING's ACK shows the
        // server has read the round's frames: nothing was sent before the
        // delay passed.
        var request = FrameClient.windowUpdate(stream: 1, increment: 16)
        rounds: while tinyFrames < 100 {
            try client.send(request + FrameClient.ping(marker))
            let (_, early) = try client.read { $0 == .ping(ack: true, payload: marker) }
            #expect(!early.contains { if case .data = $0 { true } else { false } }, "a tiny frame was not held back: \(early)")
            marker += 1
            clock.advance(by: .milliseconds(25))
            try server.turn()
            while let frame = try client.readFrame() {
                switch frame {
                case .data(1, let bytes, _):
                    #expect(bytes.count == 16)
                    tinyFrames += 1
                    request = FrameClient.windowUpdate(stream: 1, increment: 16)
                    continue rounds
                case .goAway(let last, .noError, _) where last == 0x7FFF_FFFF:
                    graceful = graceful ?? tinyFrames
                case .goAway(_, let code, _):
                    final = code
                    break rounds
                default:
                    continue
                }
            }
            break
        }
        #expect(graceful == 20, "graceful GOAWAY after \(graceful.map(String.init) ?? "no") tiny frames")
        #expect(final == .enhanceYourCalm)
        #expect(tinyFrames == 40, "40 tokens (under one refilled meanwhile)")
        #expect(try server.rejections("window_dribble") == 1)
    }

    @Test("a small window that is raised normally is not dribble")
    func smallWindowRaisedNormally() throws {
        let server = try server { $0.limits.dribbleBurst = 10 }
        let client = try server.client(settings: [(.initialWindowSize, 16)])
        try client.send(FrameClient.windowUpdate(stream: 0, increment: 1 << 24)
            + client.headers(stream: 1, FrameClient.get("/size/200000"), endStream: true))
        // One tiny frame on the initial window (at once: the first is
        // free), then full-size updates.
        var received = 0
        while received < 200_000, let frame = try client.readFrame() {
            if case .data(1, let bytes, _) = frame {
                received += bytes.count
                try client.send(FrameClient.windowUpdate(stream: 1, increment: 65_536))
            }
            if case .goAway = frame { Issue.record("unexpected \(frame)") }
        }
        #expect(received == 200_000)
        #expect(try server.rejections("window_dribble") == 0)
    }
}
