// grpc-swift's echo.Echo service (echo.proto) on Swiftlet's gRPC transport:
//
//   swiftlet-grpc-echo --port 50051
//   swiftlet-grpc-echo --port 50443 --tls-cert cert.pem --tls-key key.pem
//
// Get answers with the request's text; Expand with one response per
// space-separated word; Collect with the texts of all requests joined by
// spaces; Update with one response per request, as each arrives. Request
// metadata whose name starts with "x-" comes back both as response
// metadata and as trailing metadata. SIGTERM or SIGINT shuts it down
// gracefully: no new connections, RPCs in progress finish (up to the
// server configuration's graceful timeout), then it exits.
import ArgumentParser
import Glibc
import GRPCCore
import Logging
import ServiceLifecycle
import SwiftletGRPC
import SwiftletServer
import SwiftletTLS

/// A line on standard error (where the start-up line goes, as for `swiftlet`).
func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

struct EchoService: Echo_Echo.ServiceProtocol {
    /// The request's "x-" metadata, to send back.
    static func echoed(_ metadata: Metadata) -> Metadata {
        Metadata(metadata.filter { $0.key.hasPrefix("x-") })
    }

    static func response(_ text: some StringProtocol) -> Echo_EchoResponse {
        var response = Echo_EchoResponse()
        response.text = String(text)
        return response
    }

    func get(request: ServerRequest<Echo_EchoRequest>, context: ServerContext) async throws -> ServerResponse<Echo_EchoResponse> {
        let metadata = Self.echoed(request.metadata)
        return ServerResponse(message: Self.response(request.message.text), metadata: metadata, trailingMetadata: metadata)
    }

    func expand(request: ServerRequest<Echo_EchoRequest>, context: ServerContext) async throws
        -> StreamingServerResponse<Echo_EchoResponse> {
        let metadata = Self.echoed(request.metadata)
        let words = request.message.text.split(separator: " ")
        return StreamingServerResponse(metadata: metadata) { writer in
            for word in words { try await writer.write(Self.response(word)) }
            return metadata
        }
    }

    func collect(request: StreamingServerRequest<Echo_EchoRequest>, context: ServerContext) async throws
        -> ServerResponse<Echo_EchoResponse> {
        var texts: [String] = []
        for try await message in request.messages { texts.append(message.text) }
        let metadata = Self.echoed(request.metadata)
        return ServerResponse(message: Self.response(texts.joined(separator: " ")), metadata: metadata, trailingMetadata: metadata)
    }

    func update(request: StreamingServerRequest<Echo_EchoRequest>, context: ServerContext) async throws
        -> StreamingServerResponse<Echo_EchoResponse> {
        let metadata = Self.echoed(request.metadata)
        return StreamingServerResponse(metadata: metadata) { writer in
            for try await message in request.messages { try await writer.write(Self.response(message.text)) }
            return metadata
        }
    }
}

/// grpc-swift's server as a swift-service-lifecycle service, so that a
/// ServiceGroup turns SIGTERM into its graceful shutdown (Swiftlet's drain).
struct GRPCService: Service {
    let server: GRPCServer<SwiftletGRPCServerTransport>

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.serve()
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}

@main
struct GRPCEcho: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftlet-grpc-echo",
        abstract: "Serve grpc-swift's echo.Echo service (Get, Expand, Collect, Update) over gRPC on Swiftlet.")

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port, 0...65535 (0 picks a free one, printed at start).")
    var port: UInt16 = 0

    @Option(help: ArgumentHelp("PEM certificate chain; with --tls-key, serves gRPC over TLS (h2).", valueName: "path"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("PEM private key of --tls-cert.", valueName: "path"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("Largest request message accepted, in bytes (RESOURCE_EXHAUSTED beyond).", valueName: "bytes"))
    var maxMessageSize = 16 << 20

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
        guard maxMessageSize > 0 else {
            throw ValidationError("--max-message-size must be a positive number of bytes, not \(maxMessageSize)")
        }
    }

    func run() async throws {
        var server = ServerConfiguration()
        server.host = host
        server.port = port
        if let tlsCert, let tlsKey {
            server.tls = TLSConfiguration(certificates: [.init(certificatePath: tlsCert, keyPath: tlsKey)])
        }
        let transport: SwiftletGRPCServerTransport
        do {
            transport = try SwiftletGRPCServerTransport(configuration: .init(server: server, maximumRequestMessageSize: maxMessageSize))
            try transport.bind()
        } catch {
            printError("swiftlet-grpc-echo: cannot start: \(error)")
            throw ExitCode(1)
        }
        let grpc = GRPCServer(transport: transport, services: [EchoService()])
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: GRPCService(server: grpc))],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: Logger(label: "swiftlet-grpc-echo")))
        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask { try await group.run() }
            // The line goes out once RPCs are served (clients start on it).
            await transport.waitUntilServing()
            let scheme = tlsCert == nil ? "http" : "https"
            printError("swiftlet-grpc-echo listening on \(scheme)://\(host):\(transport.port)")
        }
    }
}
