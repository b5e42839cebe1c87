// A small application embedding Swiftlet: three routes served by one
// handler over HTTP/2 and HTTP/1.1. See docs/embedding.md.
//
//   swift run swiftlet-embedding-example 8081
//   curl --http2-prior-knowledge http://127.0.0.1:8081/hello
//   curl --http2-prior-knowledge --data-binary @README.md http://127.0.0.1:8081/echo
import Dispatch
import Glibc
import SwiftletHTTP
import SwiftletLoop
import SwiftletServer

/// Per-request state, hung on `exchange.context`.
final class Upload {
    var bytes = 0
}

/// Set when an exchange closes before work done elsewhere comes back.
final class Pending {
    var closed = false
}

final class ExampleHandler: HTTPHandler {
    let loop: EventLoop

    init(loop: EventLoop) { self.loop = loop }

    func exchangeDidStart(_ exchange: any HTTPExchange) {
        let request = exchange.request
        if request.pathBytes.elementsEqual("/hello".utf8) {
            exchange.responseFields.append("content-type", "text/plain; charset=utf-8")
            exchange.sendHead(status: 200, endOfStream: false)
            let text: StaticString = "hello from swiftlet\n"
            exchange.sendBody(borrowing: UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount),
                              owner: nil, release: nil, endOfStream: true)
        } else if request.pathBytes.elementsEqual("/echo".utf8) {
            // Stream the request body back as it arrives.
            exchange.responseFields.append("content-type", "application/octet-stream")
            exchange.sendHead(status: 200, endOfStream: false)
        } else if request.pathBytes.elementsEqual("/count".utf8) {
            exchange.context = Upload()  // answered when the body is complete
        } else if request.pathBytes.elementsEqual("/work".utf8) {
            // Slow work on another thread; the answer comes back through execute.
            let pending = Pending()
            exchange.context = pending
            let bound = LoopBound((exchange, pending), loop: loop)
            let loop = self.loop
            DispatchQueue.global().async {
                var sum = 0
                for value in 0..<1_000_000 { sum &+= value }   // off the loop
                let text = "sum \(sum)\n"
                loop.execute {                                   // back on the loop thread
                    let (exchange, pending) = bound.value
                    guard !pending.closed else { return }        // the client went away
                    exchange.sendHead(status: 200, endOfStream: false)
                    var body = text
                    body.withUTF8 { exchange.sendBody(copying: UnsafeRawBufferPointer($0), endOfStream: true) }
                }
            }
        } else if request.pathBytes.elementsEqual("/later".utf8) {
            // Answer from a timer: handlers need not respond right away.
            loop.timers.schedule(at: loop.now + 100_000_000) {
                exchange.sendHead(status: 204, endOfStream: true)
            }
        } else {
            exchange.sendHead(status: 404, endOfStream: true)
        }
    }

    func exchange(_ exchange: any HTTPExchange, didReceiveBody bytes: UnsafeRawBufferPointer) {
        if let upload = exchange.context as? Upload {
            upload.bytes += bytes.count
        } else if exchange.request.pathBytes.elementsEqual("/echo".utf8) {
            exchange.sendBody(copying: bytes, endOfStream: false)
            // Back-pressure: stop reading while the response backs up.
            if !exchange.isWritable { exchange.pauseRequestBody() }
        }
    }

    func exchangeDidBecomeWritable(_ exchange: any HTTPExchange) {
        exchange.resumeRequestBody()
    }

    func exchange(_ exchange: any HTTPExchange, didFinishRequestWith trailers: HTTPFieldList?) {
        if let upload = exchange.context as? Upload {
            exchange.responseFields.append("content-type", "text/plain")
            exchange.sendHead(status: 200, endOfStream: false)
            var text = "received \(upload.bytes) bytes\n"
            text.withUTF8 { exchange.sendBody(copying: UnsafeRawBufferPointer($0), endOfStream: true) }
        } else if exchange.request.pathBytes.elementsEqual("/echo".utf8) {
            exchange.finish(trailers: nil)
        }
    }

    func exchangeDidClose(_ exchange: any HTTPExchange, reason: HTTPExchangeCloseReason) {
        (exchange.context as? Pending)?.closed = true
        exchange.context = nil
    }
}

Signals.block([SIGINT, SIGTERM])
var configuration = ServerConfiguration()
configuration.host = "127.0.0.1"
configuration.port = CommandLine.arguments.count > 1 ? UInt16(CommandLine.arguments[1]) ?? 8081 : 8081
let server = try Server(configuration: configuration) { loop in ExampleHandler(loop: loop) }
try server.start()
print("listening on http://127.0.0.1:\(server.port) (\(server.backend.rawValue))")
fflush(nil)  // stdout may be a pipe (block-buffered)
var signals = sigset_t()
sigemptyset(&signals)
sigaddset(&signals, SIGINT)
sigaddset(&signals, SIGTERM)
var received: Int32 = 0
sigwait(&signals, &received)
server.beginGracefulShutdown()
server.waitUntilStopped()
