// Frame parsing throughput through the real receive path: bytes written
// into one end of a socketpair land in the other end's receive ring, where
// HTTP2Connection walks the frames in place, runs the stream state machine
// and flow control, and hands DATA to a handler (or, for requests, decodes
// HPACK, validates, opens the stream and answers it). One operation is one
// frame (or one request), so the figure includes the system calls that move
// the bytes, amortised over a batch of about 64 KiB, as a server sees them.
import Glibc
import Logging
import SwiftletHPACK
import SwiftletHTTP
import SwiftletHTTP2
import SwiftletLoop

/// Takes request bodies as they come; answers each request with 204.
final class DiscardingHandler: HTTPHandler {
    var bodyBytes = 0
    var requests = 0
    func exchangeDidStart(_ exchange: any HTTPExchange) { requests &+= 1 }
    func exchange(_ exchange: any HTTPExchange, didReceiveBody bytes: UnsafeRawBufferPointer) { bodyBytes &+= bytes.count }
    func exchange(_ exchange: any HTTPExchange, didFinishRequestWith trailers: HTTPFieldList?) {
        exchange.sendHead(status: 204, endOfStream: true)
    }
}

/// A client end of a socketpair talking to one HTTP2Connection on a loop
/// driven turn by turn from here.
final class ReceivePathBench {
    let loop: EventLoop
    let client: Int32
    let handler = DiscardingHandler()
    private var scratch = [UInt8](repeating: 0, count: 1 << 16)

    init() {
        var settings = EventLoop.Configuration()
        settings.backend = .epoll
        loop = try! EventLoop(configuration: settings)
        var ends: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0 else { fatalError("socketpair") }
        client = ends[0]
        var size: Int32 = 1 << 20
        setsockopt(client, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var configuration = HTTP2Configuration()
        configuration.limits.maxRequestsPerConnection = Int.max
        let handler = self.handler
        try! loop.adopt(socket: ends[1]) { connection in
            HTTP2Connection.start(on: connection, handler: handler, configuration: configuration)
        }
        // The preface, our SETTINGS and the acknowledgement of the server's
        // (§6.5.3), as a real client sends them: without the ACK the
        // server's settings timeout closes the connection after 10 s.
        var opening = Array(ConnectionState.preface)
        opening += Frames.frame(.settings, flags: [], stream: 0, payload: [])
        opening += Frames.frame(.settings, flags: [.ack], stream: 0, payload: [])
        send(opening)
    }

    /// Writes all of `bytes`, running loop turns (and reading what the
    /// server answers) whenever the socket is full, then once more.
    func send(_ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.send(client, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_DONTWAIT)) }
            if count > 0 { sent += count }
            turn()
        }
    }

    func turn() {
        try! loop.runTurn(maximumWait: 0)
        while Glibc.recv(client, &scratch, scratch.count, Int32(MSG_DONTWAIT)) > 0 {}
        precondition(loop.connectionCount == 1, "the server closed the connection")
    }
}

/// Client frames for the benchmark, built by hand.
enum Frames {
    static func frame(_ type: FrameType, flags: FrameFlags, stream: UInt32, payload: [UInt8]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: FrameHeader.size)
        bytes.withUnsafeMutableBytes {
            FrameHeader(length: payload.count, type: type, flags: flags, streamID: stream).write(to: $0.baseAddress!)
        }
        return bytes + payload
    }

    /// GET https://bench/ with static-table references and one literal
    /// that is never indexed, so every copy of the block decodes alike.
    static func requestBlock() -> [UInt8] {
        let encoder = HPACKEncoder()
        var output = HPACKOutput()
        encoder.beginBlock(into: &output)
        for (name, value) in [(":method", "GET"), (":scheme", "https"), (":path", "/"), (":authority", "bench"),
                              ("user-agent", "swiftlet-microbench"), ("accept", "*/*")] {
            Array(name.utf8).withUnsafeBytes { n in
                Array(value.utf8).withUnsafeBytes { v in encoder.encode(name: n, value: v, indexing: .none, into: &output) }
            }
        }
        return Array(output.bytes)
    }
}

/// DATA frames of `size` bytes on one open request stream, batched to about
/// 64 KiB. The server grants window as the handler consumes, so the stream
/// never stalls.
func dataFrameBenchmark(size: Int) -> Benchmark {
    // The connection opens when the benchmark first runs, not when it is
    // listed, so it is never idle while the benchmarks before it run.
    var opened: ReceivePathBench?
    func open() -> ReceivePathBench {
        if let opened { return opened }
        let bench = ReceivePathBench()
        bench.send(Frames.frame(.headers, flags: [.endHeaders], stream: 1, payload: Frames.requestBlock()))
        opened = bench
        return bench
    }
    let perBatch = max(1, 65_536 / (size + FrameHeader.size))
    let frame = Frames.frame(.data, flags: [], stream: 1, payload: [UInt8](repeating: 0x61, count: size))
    let batch = Array([[UInt8]](repeating: frame, count: perBatch).joined())
    return Benchmark(name: "receive path DATA \(size) B frame", allocationBudget: 0,
                     derived: .throughput(bytesPerOperation: Double(size))) { count in
        let bench = open()
        let before = bench.handler.bodyBytes
        var done = 0
        while done < count {
            bench.send(batch)
            done += perBatch
        }
        bench.turn()
        precondition(bench.handler.bodyBytes - before == done * size, "the handler did not get every DATA byte")
    }
}

/// One GET per operation: HEADERS frames (HPACK, request validation, a new
/// stream, the handler) answered with 204 (HPACK, the output, the flush),
/// 64 requests per batch.
func requestBenchmark() -> Benchmark {
    var opened: ReceivePathBench?  // opened on first run, as above
    let frame = Frames.frame(.headers, flags: [.endHeaders, .endStream], stream: 1, payload: Frames.requestBlock())
    var batch = Array([[UInt8]](repeating: frame, count: 64).joined())
    var nextStream: UInt32 = 1
    return Benchmark(name: "receive path GET request (HEADERS → 204)", allocationBudget: 0) { count in
        let bench = opened ?? ReceivePathBench()
        opened = bench
        let before = bench.handler.requests
        var done = 0
        while done < count {
            batch.withUnsafeMutableBytes { bytes in
                for index in 0..<64 {
                    // Stream id: bytes 5...8 of each frame header.
                    bytes.storeBytes(of: nextStream.bigEndian, toByteOffset: index * frame.count + 5, as: UInt32.self)
                    nextStream += 2
                }
            }
            bench.send(batch)
            done += 64
        }
        bench.turn()
        precondition(bench.handler.requests - before == done, "the handler did not get every request")
    }
}

/// One new HTTP/2 connection per operation, in memory (an `HTTP2Engine`
/// over a `MemoryTransport`, no socket): the server preface, the client's
/// preface and SETTINGS, one GET answered with 204, the client's EOF. What
/// a connection costs to set up and tear down, apart from the kernel's part.
func connectionBenchmark() -> Benchmark {
    let handler = DiscardingHandler()
    let pool = BufferPool(blockSize: 16 * 1024, maximumFree: 256)
    let streams = HTTP2StreamPool(bufferPool: pool)  // per loop, as the server has it
    // One configuration and one logger for every connection, as the server has them.
    let configuration = HTTP2Configuration()
    let logger = Logger(label: "swiftlet.http2")
    var bytes = ConnectionState.preface + Frames.frame(.settings, flags: [], stream: 0, payload: [])
    bytes += Frames.frame(.headers, flags: [.endHeaders, .endStream], stream: 1, payload: Frames.requestBlock())
    let input = bytes
    return Benchmark(name: "new connection in memory (preface, GET → 204, EOF)", allocationBudget: nil) { count in
        let before = handler.requests
        for _ in 0..<count {
            let transport = MemoryTransport(bufferPool: pool)
            withExtendedLifetime(transport) {
                let engine = HTTP2Engine(transport: transport, handler: handler, configuration: configuration,
                                         streamPool: streams, logger: logger)
                engine.start()
                _ = input.withUnsafeBytes { engine.receive($0) }
                transport.flush(engine)
                transport.discardOutput()
                engine.transportReceivedEOF()
                engine.transportClosed()
            }
        }
        precondition(handler.requests - before == count, "every connection's request reached the handler")
    }
}
