// grpc-swift's echo.Echo service (echo.proto), independent of any transport:
// swiftlet-grpc-echo serves it on Swiftlet, and tools/grpc-swift-nio serves
// the same file on grpc-swift's NIO transport (the benchmark's peer).
//
// Get answers with the request's text; Expand with one response per
// space-separated word; Collect with the texts of all requests joined by
// spaces; Update with one response per request, as each arrives. Request
// metadata whose name starts with "x-" comes back both as response
// metadata and as trailing metadata.
import GRPCCore

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
