// The echo.Echo service (examples/grpc-echo/EchoService.swift) on grpc-swift's
// own HTTP/2 server transport over SwiftNIO: the peer that `make bench-grpc`
// measures swiftlet-grpc-echo against. Same flags and start-up line as
// swiftlet-grpc-echo:
//
//   grpc-nio-echo --port 0
//   grpc-nio-echo --port 50443 --tls-cert cert.pem --tls-key key.pem
import ArgumentParser
import Glibc
import GRPCCore
import GRPCNIOTransportHTTP2Posix

@main
struct NIOEcho: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grpc-nio-echo",
        abstract: "Serve grpc-swift's echo.Echo service on grpc-swift's NIO HTTP/2 transport.")

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port, 0...65535 (0 picks a free one, printed at start).")
    var port: UInt16 = 0

    @Option(help: ArgumentHelp("PEM certificate chain; with --tls-key, serves gRPC over TLS (h2).", valueName: "path"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("PEM private key of --tls-cert.", valueName: "path"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("Largest request message accepted, in bytes.", valueName: "bytes"))
    var maxMessageSize = 16 << 20

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
    }

    func run() async throws {
        let security: HTTP2ServerTransport.Posix.TransportSecurity
        if let tlsCert, let tlsKey {
            security = .tls(certificateChain: [.file(path: tlsCert, format: .pem)],
                            privateKey: .file(path: tlsKey, format: .pem))
        } else {
            security = .plaintext
        }
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: host, port: Int(port)),
            transportSecurity: security,
            config: .defaults { $0.rpc.maxRequestPayloadSize = maxMessageSize })
        let server = GRPCServer(transport: transport, services: [EchoService()])
        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask { try await server.serve() }
            guard let address = try await transport.listeningAddress.ipv4 else {
                throw ValidationError("grpc-nio-echo: not listening on an IPv4 address")
            }
            let scheme = tlsCert == nil ? "http" : "https"
            let line = "grpc-nio-echo listening on \(scheme)://\(host):\(address.port)\n"
            _ = Array(line.utf8).withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        }
    }
}
