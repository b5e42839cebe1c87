import SwiftletHTTP
import SwiftletHTTP2
import SwiftletLoop
import SwiftletTestSupport
import Testing

/// The write scheduler end to end: what order DATA arrives in.
@Suite("RFC 9218 priorities end to end", .serialized)
struct PriorityTests {
    let server: TestServer
    init() throws { server = try TestServer() }

    /// A client with large windows, so only the scheduler decides the order.
    func openClient(initialWindow: UInt32 = 0x7FFF_FFFF) throws -> FrameClient {
        let client = try server.client(settings: [(.initialWindowSize, initialWindow)])
        try client.send(FrameClient.windowUpdate(stream: 0, increment: 0x7FFF_FFFF - 65_535))
        return client
    }

    /// Stream ids of DATA frames in arrival order, until every stream in `expected` ended.
    func dataOrder(_ client: FrameClient, streams: Set<UInt32>) throws -> [(stream: UInt32, bytes: Int)] {
        var order: [(UInt32, Int)] = []
        var open = streams
        while !open.isEmpty, let frame = try client.readFrame() {
            if case .data(let stream, let bytes, let end) = frame {
                order.append((stream, bytes.count))
                if end { open.remove(stream) }
            }
        }
        return order
    }

    /// The order in which streams finished.
    func completion(_ order: [(stream: UInt32, bytes: Int)]) -> [UInt32] {
        var seen: [UInt32] = []
        for entry in order.reversed() where !seen.contains(entry.stream) { seen.insert(entry.stream, at: 0) }
        var last: [UInt32: Int] = [:]
        for (index, entry) in order.enumerated() { last[entry.stream] = index }
        return last.sorted { $0.value < $1.value }.map(\.key)
    }

    @Test("mixed urgencies: the most urgent response is sent first, whole")
    func mixedUrgencies() throws {
        let client = try openClient()
        try client.send(client.headers(stream: 1, FrameClient.get("/size/100000", extra: [("priority", "u=5")]), endStream: true)
            + client.headers(stream: 3, FrameClient.get("/size/100000", extra: [("priority", "u=0")]), endStream: true)
            + client.headers(stream: 5, FrameClient.get("/size/100000", extra: [("priority", "u=3")]), endStream: true))
        let order = try dataOrder(client, streams: [1, 3, 5])
        #expect(order.map(\.stream) == order.map(\.stream).sorted { rank($0) < rank($1) }, "\(order.map(\.stream))")
        #expect(order.allSatisfy { $0.bytes <= 16_384 }, "slices of at most 16 KiB")
        func rank(_ stream: UInt32) -> Int { [3: 0, 5: 1, 1: 2][stream]! }
    }

    @Test("equal incremental streams get bytes within one slice of each other")
    func incrementalFairness() throws {
        let client = try openClient()
        // All three in one write: they are in flight together from the start.
        var requests: [UInt8] = []
        for stream in [UInt32(1), 3, 5] {
            requests += client.headers(stream: stream, FrameClient.get("/size/200000", extra: [("priority", "u=3, i")]), endStream: true)
        }
        try client.send(requests)
        let order = try dataOrder(client, streams: [1, 3, 5])
        var received: [UInt32: Int] = [1: 0, 3: 0, 5: 0]
        for entry in order {
            received[entry.stream, default: 0] += entry.bytes
            let incomplete = received.filter { $0.value < 200_000 }
            if incomplete.count == 3 {
                let spread = incomplete.values.max()! - incomplete.values.min()!
                #expect(spread <= 16_384, "spread \(spread) after \(received)")
            }
        }
    }

    @Test("non-incremental streams of one urgency go one after the other in id order")
    func sequentialInIdOrder() throws {
        let client = try openClient()
        try client.send(client.headers(stream: 1, FrameClient.get("/size/60000"), endStream: true)
            + client.headers(stream: 3, FrameClient.get("/size/60000"), endStream: true)
            + client.headers(stream: 5, FrameClient.get("/size/60000"), endStream: true))
        let order = try dataOrder(client, streams: [1, 3, 5]).map(\.stream)
        #expect(order == order.sorted(), "\(order)")
    }

    @Test("a stream stalled on its window does not block others")
    func stalledStreamDoesNotBlock() throws {
        let client = try openClient(initialWindow: 1000)
        try client.send(client.headers(stream: 1, FrameClient.get("/size/50000", extra: [("priority", "u=0")]), endStream: true)
            + client.headers(stream: 3, FrameClient.get("/size/50000", extra: [("priority", "u=6")]), endStream: true))
        // Only stream 3 gets more window.
        try client.send(FrameClient.windowUpdate(stream: 3, increment: 60_000))
        var bytes: [UInt32: Int] = [:]
        var stream3Done = false
        while !stream3Done, let frame = try client.readFrame() {
            if case .data(let stream, let data, let end) = frame {
                bytes[stream, default: 0] += data.count
                if stream == 3 && end { stream3Done = true }
            }
        }
        #expect(bytes[3] == 50_000)
        #expect(bytes[1] == 1000, "stream 1 sent exactly its window and waits")
    }

    @Test("PRIORITY_UPDATE before the stream opens takes precedence over its priority header")
    func priorityUpdateBeforeOpen() throws {
        let client = try openClient()
        let update = FrameClient.frame(.priorityUpdate, stream: 0, payload: FrameClient.u32(5) + Array("u=0".utf8))
        try client.send(update
            + client.headers(stream: 1, FrameClient.get("/size/80000", extra: [("priority", "u=1")]), endStream: true)
            + client.headers(stream: 3, FrameClient.get("/size/80000", extra: [("priority", "u=1")]), endStream: true)
            + client.headers(stream: 5, FrameClient.get("/size/80000", extra: [("priority", "u=7")]), endStream: true))
        let order = try dataOrder(client, streams: [1, 3, 5]).map(\.stream)
        #expect(order.first == 5 && completion(order.map { ($0, 0) }).first == 5, "\(order)")
    }

    @Test("PRIORITY_UPDATE after the stream opened reorders what is left")
    func priorityUpdateAfterOpen() throws {
        let client = try openClient(initialWindow: 0)
        try client.send(client.headers(stream: 1, FrameClient.get("/size/60000", extra: [("priority", "u=2")]), endStream: true)
            + client.headers(stream: 3, FrameClient.get("/size/60000", extra: [("priority", "u=4")]), endStream: true))
        try client.expectAlive()
        // Both wait on a zero window; now stream 3 becomes the most urgent, then windows open.
        try client.send(FrameClient.frame(.priorityUpdate, stream: 0, payload: FrameClient.u32(3) + Array("u=0".utf8))
            + FrameClient.settings([(.initialWindowSize, 0x7FFF_FFFF)]))
        let order = try dataOrder(client, streams: [1, 3]).map(\.stream)
        #expect(order.first == 3 && order.last == 1, "\(order)")
    }

    @Test("a handler's priority overrides the client's")
    func handlerOverride() throws {
        let client = try openClient()
        try client.send(client.headers(stream: 1, FrameClient.get("/size/80000", extra: [("priority", "u=1")]), endStream: true)
            + client.headers(stream: 3, FrameClient.get("/urgent/80000", extra: [("priority", "u=7")]), endStream: true))
        let order = try dataOrder(client, streams: [1, 3]).map(\.stream)
        // Stream 3 asked for u=7 but its handler set u=0: it goes first, whole.
        #expect(order == order.sorted { ($0 == 3 ? 0 : 1) < ($1 == 3 ? 0 : 1) }, "\(order)")
    }

    @Test("RFC 7540 weights are a hint for clients that send no RFC 9218 signal")
    func rfc7540Hint() throws {
        let client = try openClient()
        var light = client.headers(stream: 1, FrameClient.get("/size/80000"), endStream: true, dependsOn: 0)
        light[9 + 4] = 15  // weight 16 → u=5
        var heavy = client.headers(stream: 3, FrameClient.get("/size/80000"), endStream: true, dependsOn: 0)
        heavy[9 + 4] = 255  // weight 256 → u=1
        try client.send(light + heavy)
        let order = try dataOrder(client, streams: [1, 3]).map(\.stream)
        #expect(order.last == 1, "\(order)")
    }

    @Test("one flush per connection per turn: twenty responses in one send")
    func oneFlushPerTurn() throws {
        // System calls: a real socket.
        let server = try TestServer(.socket(.epoll))
        let client = try server.client(settings: [(.initialWindowSize, 0x7FFF_FFFF)])
        try client.send(FrameClient.windowUpdate(stream: 0, increment: 0x7FFF_FFFF - 65_535))
        try client.expectAlive()
        let connections = server.connections
        let before = try server.harness.onLoop { _ in connections.value.all[0].connection.sendCallCount }
        var requests: [UInt8] = []
        for index in 0..<20 { requests += client.headers(stream: UInt32(2 * index + 1), FrameClient.get("/hello"), endStream: true) }
        try client.send(requests)
        var done = 0
        while done < 20, let frame = try client.readFrame() {
            if case .data(_, _, true) = frame { done += 1 }
        }
        let sends = try server.harness.onLoop { _ in connections.value.all[0].connection.sendCallCount } - before
        #expect(sends <= 2, "\(sends) sends for 20 responses received in one read")
    }
}
