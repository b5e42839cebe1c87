// Fuzz target for the HTTP/2 frame path: framing, the connection and stream
// state machines, HPACK, request validation, flow control and the limits,
// exactly as a server runs them.
//
// Each input is what a client sends after the connection preface (the
// harness prepends it). The bytes go straight into an HTTP2Engine over a
// MemoryTransport (no loop, no socket), with a handler that answers every
// request (echoing bodies, finishing with trailers), so response paths run
// too; the output is read back as a peer would, the clock is moved past
// every timeout (so the timers run), and the client then closes. A crash,
// a trap or an ASan report is a finding; so is an engine that does not
// close its transport after the peer's EOF, keeps a stream, or is not
// released afterwards.
//
// Built by `make fuzz` with -sanitize=fuzzer (libFuzzer supplies main);
// built normally it replays the files given as arguments, which is how
// the seed corpus runs in `make test`.
import Foundation
import Glibc
import Logging
import SwiftletHTTP
import SwiftletHTTP2
import SwiftletLoop

final class FuzzHandler: HTTPHandler {
    func exchangeDidStart(_ exchange: any HTTPExchange) {
        if exchange.request.pathBytes.first == UInt8(ascii: "/") && exchange.request.pathBytes.count % 3 == 1 {
            exchange.responseFields.append("content-type", "text/plain")
            exchange.sendHead(status: 200, endOfStream: false)
            let text: StaticString = "fuzz\n"
            exchange.sendBody(borrowing: UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount),
                              owner: nil, release: nil, endOfStream: true)
        } else {
            exchange.sendHead(status: 200, endOfStream: false)  // echo the body below
        }
    }

    func exchange(_ exchange: any HTTPExchange, didReceiveBody bytes: UnsafeRawBufferPointer) {
        if exchange.isWritable { exchange.sendBody(copying: bytes, endOfStream: false) } else { exchange.pauseRequestBody() }
    }

    /// Trailers for every response (made once: the harness should cost
    /// little next to the engine).
    let trailers: HTTPFieldList = {
        let fields = HTTPFieldList()
        fields.append("x-fuzz", "done")
        return fields
    }()

    func exchange(_ exchange: any HTTPExchange, didFinishRequestWith trailers: HTTPFieldList?) {
        exchange.finish(trailers: self.trailers)
    }

    func exchangeDidBecomeWritable(_ exchange: any HTTPExchange) { exchange.resumeRequestBody() }
}

final class FrameFuzzer {
    let handler = FuzzHandler()
    var configuration = HTTP2Configuration()
    /// Shared by every run, as a loop's pool is shared by its connections.
    let pool = BufferPool(blockSize: 16 * 1024, maximumFree: 256)
    /// Spare streams, shared by every run as a loop's connections share
    /// them: each input starts on streams an earlier input used, which is
    /// what a server's `reset` has to get right.
    lazy var streams = HTTP2StreamPool(bufferPool: pool)
    /// One logger for every run, as a server passes its own to every
    /// connection (making one asks the logging backend for a handler, under
    /// its lock, on every input).
    let logger = Logger(label: "swiftlet.fuzz")
    /// One set of counters for every run, as a server keeps one for all its
    /// connections (a fresh one per input would regrow its dictionaries).
    let counters = HTTP2Counters()
    /// Bytes the server sent back for the last input (the replayer prints them).
    var lastResponseBytes = 0
    /// Where the replayer writes the server's bytes (SWIFTLET_FUZZ_DUMP), to look at.
    var dumpFile: UnsafeMutablePointer<FILE>?

    init() {
        // Small limits so floods reach them within one input.
        configuration.limits.maxConcurrentStreams = 8
        configuration.limits.resetBurst = 20
        configuration.limits.glitchBurst = 20
        configuration.limits.smallFrameBurst = 50
        configuration.limits.maxQueuedControlFrames = 20
    }

    /// The client preface and an empty SETTINGS, sent before every input.
    static let opening: [UInt8] = ConnectionState.preface + [0, 0, 0, 4, 0, 0, 0, 0, 0]

    func run(_ input: UnsafeRawBufferPointer) {
        lastResponseBytes = 0
        let transport = MemoryTransport(bufferPool: pool)
        withExtendedLifetime(transport) {
            var engine = HTTP2Engine(transport: transport, handler: handler, configuration: configuration, counters: counters,
                                     streamPool: streams, logger: logger)
            engine.start()
            // The opening is whole frames; then the input, read in place as
            // a loop reads its ring: whole frames are taken, the turn's output
            // produced and read by the peer, a paused engine resumed once its
            // output drained.
            _ = Self.opening.withUnsafeBytes { engine.receive($0) }
            turnEnds(engine, transport)
            var offset = 0
            while transport.isOpen && offset < input.count {
                let used = engine.receive(UnsafeRawBufferPointer(rebasing: input[offset...]))
                offset += used
                turnEnds(engine, transport)
                if used == 0 && !transport.isReadingPaused { break }  // a partial frame is left
            }
            // Every timer comes due (idle, SETTINGS ACK, header block, drain).
            for _ in 0..<3 where transport.isOpen && transport.timers.count > 0 {
                transport.advance(by: .seconds(120), flushing: engine)
                turnEnds(engine, transport)
            }
            // The peer closes its side; the engine must close too.
            if transport.isOpen { engine.transportReceivedEOF() }
            turnEnds(engine, transport)
            precondition(transport.isClosed, "the engine did not close after the peer's EOF")
            engine.transportClosed()
            precondition(engine.openStreamCount == 0, "a stream outlived its connection")
            // Nothing else holds the engine once its transport closed: no
            // reference cycle, no timer left with it as target. (Asked this
            // way, not with a weak reference, which would give every engine
            // a side table.)
            precondition(isKnownUniquelyReferenced(&engine), "the engine is still referenced after it closed (a cycle?)")
        }
    }

    /// The end of a turn: output produced, then read by the peer.
    private func turnEnds(_ engine: HTTP2Engine, _ transport: MemoryTransport) {
        transport.flush(engine)
        lastResponseBytes += transport.pendingOutputBytes
        if let dumpFile {
            transport.takeOutput { bytes in
                if bytes.count > 0 { fwrite(bytes.baseAddress!, 1, bytes.count, dumpFile) }
            }
        } else {
            transport.discardOutput()
        }
        if transport.isReadingPaused { engine.transportBecameWritable() }
    }
}

#if FUZZING
import CLibFuzzer

nonisolated(unsafe) let fuzzer = FrameFuzzer()

@main
enum Fuzz {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            fuzzer.run(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        })
    }
}
#else
/// Replays the files given (the seed corpus in `make test`). With
/// SWIFTLET_FUZZ_REPEAT=N it replays them N times over and prints the
/// executions per second (the harness's own speed, without libFuzzer).
@main
enum Replay {
    static func main() {
        let fuzzer = FrameFuzzer()
        if let path = getenv("SWIFTLET_FUZZ_DUMP") { fuzzer.dumpFile = fopen(path, "wb") }
        defer { if let file = fuzzer.dumpFile { fclose(file) } }
        var inputs: [(String, [UInt8])] = []
        for path in CommandLine.arguments.dropFirst() {
            guard let bytes = FileManager.default.contents(atPath: path) else {
                print("swiftlet-fuzz-frames: cannot read \(path)")
                exit(1)
            }
            inputs.append((path, Array(bytes)))
        }
        if let text = getenv("SWIFTLET_FUZZ_REPEAT"), let repeats = Int(String(cString: text)), repeats > 0 {
            let clock = MonotonicClock()
            let start = clock.now()
            for _ in 0..<repeats {
                for (_, bytes) in inputs { bytes.withUnsafeBytes { fuzzer.run($0) } }
            }
            let seconds = Double(clock.now() - start) / 1e9
            let runs = repeats * inputs.count
            print("swiftlet-fuzz-frames: \(runs) executions in \(String(format: "%.2f", seconds)) s: \(Int(Double(runs) / seconds)) per second")
            return
        }
        for (path, bytes) in inputs {
            bytes.withUnsafeBytes { fuzzer.run($0) }
            print("\(path): \(bytes.count) bytes in, \(fuzzer.lastResponseBytes) bytes back")
        }
        print("swiftlet-fuzz-frames: replayed \(inputs.count) inputs")
    }
}
#endif
