// grpc-swift's echo.Echo service (echo.proto) on Swiftlet's gRPC transport:
//
//   swiftlet-grpc-echo --port 50051
//   swiftlet-grpc-echo --port 50443 --tls-cert cert.pem --tls-key key.pem
//
// The service itself is in EchoService.swift. SIGTERM or SIGINT shuts it down
// gracefully: no new connections, RPCs in progress finish (up to the
// server configuration's graceful timeout), then it exits.
import ArgumentParser
import Glibc
import GRPCCore
import Logging
import ServiceLifecycle
import SwiftletGRPC
import SwiftletLoop
import SwiftletServer
import SwiftletTLS

extension EventLoop.BackendChoice: ExpressibleByArgument {}

/// A line on standard error (where the start-up line goes, as for `swiftlet`).
func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
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

    @Option(help: "I/O backend: auto (io_uring when the kernel allows it, else epoll), uring or epoll.")
    var io: EventLoop.BackendChoice = .auto

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
        server.backend = io
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
            let backend = transport.backend == .uring ? "io_uring" : "epoll"
            printError("swiftlet-grpc-echo listening on \(scheme)://\(host):\(transport.port) (\(backend))")
        }
    }
}
