// WebSockets over HTTP/1.1 (RFC 6455) and HTTP/2 (RFC 8441): serves the
// files under <root> like `swiftlet` and echoes every WebSocket message,
// text and binary, sent to /echo. A browser that loaded a page from this
// server over HTTP/2 opens its WebSockets on the same connection; over
// HTTP/1.1 (cleartext, say) it opens a connection with the Upgrade
// handshake.
//
// `--api callback` (the default) echoes with a `WebSocketDelegate` on the
// loop; `--api async` with an async function on the loop (`AsyncWebSocket`).
//
//   swift run swiftlet-websocket-echo --port 8443 --tls-cert cert.pem --tls-key key.pem ./public
import ArgumentParser
import Glibc
import SwiftletHTTP
import SwiftletLoop
import SwiftletServer
import SwiftletStatic
import SwiftletTLS
import SwiftletWebSocket

extension EventLoop.BackendChoice: ExpressibleByArgument {}

/// A line on standard error (where the start-up line goes, as for `swiftlet`).
func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// Sends every message back as it came (the callback API).
final class Echo: WebSocketDelegate {
    func webSocket(_ socket: WebSocket, didReceive message: WebSocketMessage) {
        socket.send(message)
    }
}

/// The same with the async API: one task per socket, on the loop.
@Sendable func echo(_ socket: AsyncWebSocket) async throws {
    for try await message in socket.messages {
        try await socket.send(message)
    }
}

enum API: String, ExpressibleByArgument, CaseIterable {
    case callback, async
}

@main
struct WebSocketEcho: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftlet-websocket-echo",
        abstract: "Serve files and echo WebSocket messages sent to /echo (over HTTP/1.1, RFC 6455, and HTTP/2, RFC 8441).")

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port, 0...65535 (0 picks a free one, printed at start).")
    var port: UInt16 = 0

    @Option(help: ArgumentHelp("PEM certificate chain; with --tls-key, serves h2 over TLS.", valueName: "path"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("PEM private key of --tls-cert.", valueName: "path"))
    var tlsKey: String?

    @Option(help: "I/O backend: auto (io_uring when the kernel allows it, else epoll), uring or epoll.")
    var io: EventLoop.BackendChoice = .auto

    @Option(help: "The handler API that echoes: callback or async.")
    var api: API = .callback

    @Argument(help: "The directory to serve.")
    var root: String

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
    }

    func run() throws {
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.backend = io
        configuration.http2.limits.enableConnectProtocol = true
        if let tlsCert, let tlsKey {
            configuration.tls = TLSConfiguration(certificates: [.init(certificatePath: tlsCert, keyPath: tlsKey)])
        }
        let files = StaticFileConfiguration(root: root)
        let server: Server
        do {
            server = try Server(configuration: configuration) { [api] loop in
                let fallback = try StaticFileHandler(configuration: files, loop: loop)
                switch api {
                case .callback:
                    let delegate = Echo()
                    return WebSocketHandler(fallback: fallback) { request in
                        request.pathBytes.elementsEqual("/echo".utf8) ? delegate : nil
                    }
                case .async:
                    return WebSocketHandler(loop: loop, fallback: fallback) { request in
                        request.pathBytes.elementsEqual("/echo".utf8) ? echo : nil
                    }
                }
            }
            try server.start()
        } catch {
            printError("swiftlet-websocket-echo: cannot start: \(error)")
            throw ExitCode(1)
        }
        let scheme = tlsCert == nil ? "http" : "https"
        let backend = server.backend == .uring ? "io_uring" : "epoll"
        printError("swiftlet-websocket-echo listening on \(scheme)://\(host):\(server.port) (\(backend))")
        server.waitUntilStopped()
    }
}
