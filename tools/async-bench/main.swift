// The same small response from a callback handler and from an async
// handler, for `tools/async-cost.py` (`make bench-async`):
//
//   swiftlet-async-bench callback|async [port]
//
// GET /hello answers 200 with `content-type: text/plain`, a content-length
// and a 21-byte body, on one loop; anything else 404.
import Glibc
import HTTPTypes
import SwiftletHTTP
import SwiftletLoop
import SwiftletServer

final class CallbackHello: HTTPHandler {
    static let body: StaticString = "hello from swiftlet!\n"

    func exchangeDidStart(_ exchange: any HTTPExchange) {
        guard exchange.request.pathBytes.elementsEqual("/hello".utf8) else {
            exchange.responseFields.append("content-length", "0")
            exchange.sendHead(status: 404, endOfStream: true)
            return
        }
        exchange.responseFields.append("content-type", "text/plain")
        exchange.responseFields.append("content-length", integer: Self.body.utf8CodeUnitCount)
        exchange.sendHead(status: 200, endOfStream: false)
        exchange.sendBody(copying: UnsafeRawBufferPointer(start: Self.body.utf8Start, count: Self.body.utf8CodeUnitCount),
                          endOfStream: true)
    }
}

let helloBody = Array("hello from swiftlet!\n".utf8)

let arguments = CommandLine.arguments
guard arguments.count >= 2, arguments[1] == "callback" || arguments[1] == "async" else {
    print("usage: swiftlet-async-bench callback|async [port]")
    exit(2)
}
var configuration = ServerConfiguration()
configuration.host = "127.0.0.1"
configuration.port = arguments.count > 2 ? UInt16(arguments[2]) ?? 0 : 0
let server: Server
if arguments[1] == "callback" {
    server = try Server(configuration: configuration) { _ in CallbackHello() }
} else {
    server = try Server(configuration: configuration) { request, _, response in
        guard request.path == "/hello" else {
            return try await response.respond(HTTPResponse(status: .notFound), body: [])
        }
        try await response.respond(HTTPResponse(status: .ok, headerFields: [.contentType: "text/plain"]), body: helloBody)
    }
}
try server.start()
print("listening on http://127.0.0.1:\(server.port) (\(server.backend.rawValue))")
fflush(nil)
server.waitUntilStopped()
