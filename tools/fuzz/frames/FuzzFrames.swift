// Fuzz target for the HTTP/2 frame path: framing, the connection and stream
// state machines, HPACK, request validation, flow control and the limits,
// exactly as a server runs them.
//
// Each input is what a client sends after the connection preface (the
// harness prepends it). The bytes go through a socketpair into an event loop
// that serves the other end with HTTP2Connection and a handler that answers
// every request (echoing bodies, finishing with trailers), so response
// paths run too. A crash, a trap or an ASan report is a finding; so is a
// connection that neither closes nor goes quiet.
//
// Built by `make fuzz` with -sanitize=fuzzer (libFuzzer supplies main);
// built normally it replays the files given as arguments, which is how
// the seed corpus runs in `make test`.
import Foundation
import Glibc
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

    func exchange(_ exchange: any HTTPExchange, didFinishRequestWith trailers: HTTPFields?) {
        let fields = HTTPFields()
        fields.append("x-fuzz", "done")
        exchange.finish(trailers: fields)
    }

    func exchangeDidBecomeWritable(_ exchange: any HTTPExchange) { exchange.resumeRequestBody() }
}

final class FrameFuzzer {
    let loop: EventLoop
    let handler = FuzzHandler()
    var configuration = HTTP2Configuration()
    var output = [UInt8](repeating: 0, count: 1 << 16)
    var adopted = 0
    /// Bytes the server sent back for the last input (the replayer prints them).
    var lastResponseBytes = 0
    /// Where the replayer writes the server's bytes (SWIFTLET_FUZZ_DUMP), to look at.
    var dumpFile: UnsafeMutablePointer<FILE>?

    init() {
        var settings = EventLoop.Configuration()
        settings.backend = .epoll
        loop = try! EventLoop(configuration: settings)
        // Small limits so floods reach them within one input.
        configuration.limits.maxConcurrentStreams = 8
        configuration.limits.resetBurst = 20
        configuration.limits.glitchBurst = 20
        configuration.limits.smallFrameBurst = 50
        configuration.limits.maxQueuedControlFrames = 20
    }

    func run(_ input: UnsafeRawBufferPointer) {
        var ends: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else { fatalError("socketpair") }
        let client = ends[0]
        var size: Int32 = 1 << 20
        setsockopt(client, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
        let handler = self.handler
        let configuration = self.configuration
        _ = try! loop.adopt(socket: ends[1]) { connection in
            HTTP2Connection.start(on: connection, handler: handler, configuration: configuration)
        }
        adopted += 1
        var message = Array(ConnectionState.preface)
        message += [0, 0, 0, 4, 0, 0, 0, 0, 0]  // empty SETTINGS
        message += input
        var sent = 0
        var quietTurns = 0
        lastResponseBytes = 0
        // Send everything, polling turns, until the server has gone quiet
        // (epoll answers within the turn that reads, so a few idle polls
        // mean nothing more is coming short of a timer); then half-close
        // and wait for the server to close its end.
        for _ in 0..<10_000 {
            if sent < message.count {
                let count = message.withUnsafeBytes { Glibc.send(client, $0.baseAddress! + sent, message.count - sent, Int32(MSG_NOSIGNAL)) }
                if count > 0 { sent += count }
            }
            try! loop.runTurn(maximumWait: 0)
            let received = drain(client)
            if loop.connectionCount == 0 { break }
            quietTurns = received == 0 && sent == message.count ? quietTurns + 1 : 0
            if quietTurns > 3 { break }
        }
        shutdown(client, Int32(SHUT_WR))
        for _ in 0..<1000 where loop.connectionCount > 0 {
            try! loop.runTurn(maximumWait: 1_000_000)
            _ = drain(client)
        }
        Glibc.close(client)
        for _ in 0..<1000 where loop.releasedConnectionCount < adopted {
            try! loop.runTurn(maximumWait: 1_000_000)
        }
        // Every connection must close and give its resources back.
        precondition(loop.connectionCount == 0 && loop.releasedConnectionCount == adopted, "a connection did not close")
    }

    /// Reads what the server sent so far; returns the byte count.
    private func drain(_ client: Int32) -> Int {
        var received = 0
        while true {
            let count = Glibc.recv(client, &output, output.count, Int32(MSG_DONTWAIT))
            if count <= 0 { break }
            received += count
            if let dumpFile { fwrite(output, 1, count, dumpFile) }
        }
        lastResponseBytes += received
        return received
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
@main
enum Replay {
    static func main() {
        let fuzzer = FrameFuzzer()
        if let path = getenv("SWIFTLET_FUZZ_DUMP") { fuzzer.dumpFile = fopen(path, "wb") }
        defer { if let file = fuzzer.dumpFile { fclose(file) } }
        var count = 0
        for path in CommandLine.arguments.dropFirst() {
            guard let bytes = FileManager.default.contents(atPath: path) else {
                print("swiftlet-fuzz-frames: cannot read \(path)")
                exit(1)
            }
            bytes.withUnsafeBytes { fuzzer.run($0) }
            print("\(path): \(bytes.count) bytes in, \(fuzzer.lastResponseBytes) bytes back")
            count += 1
        }
        print("swiftlet-fuzz-frames: replayed \(count) inputs")
    }
}
#endif
