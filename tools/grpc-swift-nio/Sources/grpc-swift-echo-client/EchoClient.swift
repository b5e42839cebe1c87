// A grpc-swift client over grpc-swift's NIO HTTP/2 transport, calling the
// echo.Echo service (examples/grpc-echo/echo.proto) and checking every answer:
// the interop test of Tests/e2e/test_grpc_swift_client.py runs it against
// swiftlet-grpc-echo over h2c and TLS.
//
//   grpc-swift-echo-client --port 50051
//   grpc-swift-echo-client --port 50443 --tls-ca cert.pem --check unary --check deadline
//
// Prints "ok NAME" or "FAIL NAME: reason" per check and exits 1 if any failed.
import ArgumentParser
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf

typealias EchoClient = Echo_Echo.Client<HTTP2ClientTransport.Posix>

struct CheckFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func expect(_ condition: Bool, _ reason: @autoclosure () -> String) throws {
    if !condition { throw CheckFailure(reason()) }
}

func request(_ text: String) -> Echo_EchoRequest {
    var message = Echo_EchoRequest()
    message.text = text
    return message
}

/// The RPCError code of `body`'s failure, or nil if it did not fail with one.
func rpcErrorCode(_ body: () async throws -> Void) async -> RPCError.Code? {
    do {
        try await body()
        return nil
    } catch let error as RPCError {
        return error.code
    } catch {
        return nil
    }
}

/// Every check, in the order they run, by name.
let checks: KeyValuePairs<String, @Sendable (EchoClient, GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Void> = [
    // Get: one request, one response; string and -bin metadata come back as
    // initial and as trailing metadata.
    "unary": { echo, _ in
        var metadata: Metadata = ["x-trace": "t-1"]
        metadata.addBinary([0, 1, 2, 0xfe, 0xff], forKey: "x-data-bin")
        let (text, initial, trailing) = try await echo.get(request: ClientRequest(message: request("hello"), metadata: metadata)) {
            (try $0.message.text, $0.metadata, $0.trailingMetadata)
        }
        try expect(text == "hello", "Get answered \(text.prefix(40).debugDescription)")
        for (which, received) in [("initial", initial), ("trailing", trailing)] {
            try expect(Array(received[stringValues: "x-trace"]) == ["t-1"], "\(which) metadata x-trace: \(Array(received[stringValues: "x-trace"]))")
            let binary = Array(received[binaryValues: "x-data-bin"])
            try expect(binary == [[0, 1, 2, 0xfe, 0xff]], "\(which) metadata x-data-bin: \(binary)")
        }
    },
    // Expand: one response per word, in order.
    "server-streaming": { echo, _ in
        let words = try await echo.expand(request: ClientRequest(message: request("the quick brown fox"))) { response in
            var words: [String] = []
            for try await message in response.messages { words.append(message.text) }
            return words
        }
        try expect(words == ["the", "quick", "brown", "fox"], "Expand answered \(words)")
    },
    // Collect: the words of every request, joined by spaces.
    "client-streaming": { echo, _ in
        let text = try await echo.collect(request: StreamingClientRequest { writer in
            for word in ["the", "quick", "brown", "fox"] { try await writer.write(request(word)) }
        })
        try expect(text.text == "the quick brown fox", "Collect answered \(text.text.debugDescription)")
    },
    // Update: 1000 messages on one stream, each answered in order.
    "bidirectional-1000": { echo, _ in
        let texts = try await echo.update(request: StreamingClientRequest { writer in
            for index in 0..<1000 { try await writer.write(request("m\(index)")) }
        }) { response in
            var texts: [String] = []
            for try await message in response.messages { texts.append(message.text) }
            return texts
        }
        try expect(texts == (0..<1000).map { "m\($0)" }, "Update answered \(texts.count) messages, first \(texts.prefix(3))")
    },
    // A 4 MiB message each way.
    "large-4MiB": { echo, _ in
        let text = String(repeating: "0123456789abcdef", count: (4 << 20) / 16)
        var options = CallOptions.defaults
        options.maxRequestMessageBytes = 8 << 20
        options.maxResponseMessageBytes = 8 << 20
        let answer = try await echo.get(request: ClientRequest(message: request(text)), options: options)
        try expect(answer.text == text, "Get answered \(answer.text.utf8.count) bytes, not the \(text.utf8.count) sent")
    },
    // A deadline that passes while the call waits: DEADLINE_EXCEEDED.
    "deadline": { echo, _ in
        var options = CallOptions.defaults
        options.timeout = .milliseconds(300)
        let start = ContinuousClock.now
        let code = await rpcErrorCode {
            _ = try await echo.update(request: StreamingClientRequest { writer in
                try await writer.write(request("first"))
                try await Task.sleep(for: .seconds(10))
            }, options: options) { response in
                for try await _ in response.messages {}
            }
        }
        let elapsed = ContinuousClock.now - start
        try expect(code == .deadlineExceeded, "the call ended with \(code.map { "\($0)" } ?? "no error"), not DEADLINE_EXCEEDED")
        try expect(elapsed < .seconds(5), "the call took \(elapsed) to end at its 300 ms deadline")
    },
    // The client cancels a call mid-stream (its task): the call ends, and the
    // connection goes on serving calls.
    "cancel": { echo, _ in
        let firstAnswer = AsyncStream<Void>.makeStream()
        let call = Task {
            try await echo.update(request: StreamingClientRequest { writer in
                try await writer.write(request("one"))
                try await Task.sleep(for: .seconds(30))
            }) { response in
                for try await _ in response.messages { firstAnswer.continuation.yield() }
            }
        }
        var answers = firstAnswer.stream.makeAsyncIterator()
        _ = await answers.next()
        call.cancel()
        let start = ContinuousClock.now
        let outcome = await call.result
        let elapsed = ContinuousClock.now - start
        if case .success = outcome { throw CheckFailure("the cancelled call succeeded") }
        try expect(elapsed < .seconds(5), "the cancelled call took \(elapsed) to end")
        let after = try await echo.get(request: ClientRequest(message: request("after")))
        try expect(after.text == "after", "Get after the cancel answered \(after.text.debugDescription)")
    },
    // A method the server does not have: UNIMPLEMENTED.
    "unimplemented": { _, client in
        let descriptor = MethodDescriptor(fullyQualifiedService: "echo.Echo", method: "Nope")
        let code = await rpcErrorCode {
            _ = try await client.unary(
                request: ClientRequest(message: request("x")), descriptor: descriptor,
                serializer: ProtobufSerializer<Echo_EchoRequest>(), deserializer: ProtobufDeserializer<Echo_EchoResponse>(),
                options: .defaults) { try $0.message }
        }
        try expect(code == .unimplemented, "echo.Echo/Nope ended with \(code.map { "\($0)" } ?? "no error"), not UNIMPLEMENTED")
    },
    // 200 unary calls at once, multiplexed on the connection.
    "concurrent-200": { echo, _ in
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask {
                    let answer = try await echo.get(request: ClientRequest(message: request("c\(index)")))
                    try expect(answer.text == "c\(index)", "call \(index) answered \(answer.text.debugDescription)")
                }
            }
            try await group.waitForAll()
        }
    },
]

@main
struct EchoClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grpc-swift-echo-client",
        abstract: "Call the echo.Echo service over grpc-swift's NIO transport and check every answer.")

    @Option(help: "Server address (IPv4).")
    var host = "127.0.0.1"

    @Option(help: "Server port, 1...65535.")
    var port: UInt16

    @Option(help: ArgumentHelp("PEM certificate to trust; connects over TLS (h2) when given.", valueName: "path"))
    var tlsCa: String?

    @Option(help: ArgumentHelp("Run only this check (repeatable): \(checks.map(\.key).joined(separator: ", ")).", valueName: "name"))
    var check: [String] = []

    func validate() throws {
        guard port > 0 else { throw ValidationError("--port must be 1...65535, not 0") }
        let names = Set(checks.map(\.key))
        for name in check where !names.contains(name) {
            throw ValidationError("--check \(name): no such check; the checks are \(checks.map(\.key).joined(separator: ", "))")
        }
    }

    func run() async throws {
        let security: HTTP2ClientTransport.Posix.TransportSecurity
        if let tlsCa {
            security = .tls {
                $0.trustRoots = .certificates([.file(path: tlsCa, format: .pem)])
                $0.serverCertificateVerification = .noHostnameVerification
            }
        } else {
            security = .plaintext
        }
        let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: host, port: Int(port)), transportSecurity: security)
        let selected = checks.filter { check.isEmpty || check.contains($0.key) }
        let failures = try await withGRPCClient(transport: transport) { client in
            let echo = Echo_Echo.Client(wrapping: client)
            var failures = 0
            for (name, body) in selected {
                do {
                    try await body(echo, client)
                    print("ok \(name)")
                } catch {
                    failures += 1
                    print("FAIL \(name): \(error)")
                }
            }
            return failures
        }
        if failures > 0 { throw ExitCode(1) }
    }
}
