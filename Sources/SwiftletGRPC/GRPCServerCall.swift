import GRPCCore
import HTTPTypes
import SwiftletServer
import Synchronization

/// One RPC on one HTTP/2 stream (gRPC over HTTP/2), on Swiftlet's async
/// handler API: checks the request head, then hands grpc-swift's server an
/// `RPCStream` whose inbound side deframes the request body and whose
/// outbound side frames messages and ends with the status in trailers.
/// Flow control is Swiftlet's: the body is read as the service reads
/// messages, and writes wait while the stream cannot send.
enum GRPCServerCall {
    static func serve(request: HTTPRequest, body: HTTPRequestBody, writer: HTTPResponseWriter,
                      shared: GRPCTransportState) async throws {
        // "Only POST can be used for gRPC calls." A request that is not gRPC
        // at all gets a plain HTTP answer; one that is gets a gRPC status.
        guard GRPCPeer.current?.protocolName == "h2" else {
            return try await writer.respond(HTTPResponse(status: .httpVersionNotSupported), body: Array("gRPC needs HTTP/2\n".utf8))
        }
        guard request.method == .post else {
            return try await writer.respond(HTTPResponse(status: .methodNotAllowed, headerFields: [.allow: "POST"]), body: [UInt8]())
        }
        // "If Content-Type does not begin with "application/grpc", gRPC servers
        // SHOULD respond with HTTP status of 415 (Unsupported Media Type)."
        guard let contentType = request.headerFields[.contentType], contentType.hasPrefix("application/grpc") else {
            return try await writer.respond(HTTPResponse(status: .unsupportedMediaType), body: [UInt8]())
        }
        let reply = TrailersOnly(writer: writer, contentType: contentType)
        // "Path → ":path" "/" Service-Name "/" {method name}"
        guard let path = request.path, let descriptor = methodDescriptor(path: path) else {
            return try await reply.send(Status(code: .unimplemented, message: "malformed method path"))
        }
        // "If a client message is compressed by an algorithm that is not
        // supported by a server, the message will result in an UNIMPLEMENTED
        // error status on the server. The server will then include a
        // grpc-accept-encoding response header".
        if let encoding = request.headerFields[GRPCFieldNames.encoding], encoding != "identity" {
            return try await reply.send(Status(code: .unimplemented, message: "grpc-encoding \(encoding) is not supported"),
                                        extra: [GRPCFieldNames.acceptEncoding: "identity"])
        }
        let metadata: Metadata
        do {
            metadata = try GRPCMetadataCoding.metadata(from: request.headerFields)
        } catch {
            return try await reply.send(Status(code: .internalError, message: "metadata \(error.name) is not base64"))
        }
        guard let streamHandler = shared.streamHandler?.call else {
            return try await reply.send(Status(code: .unavailable, message: "the server is not serving yet"))
        }
        let inbound = GRPCInbound(metadata: metadata, body: body, maximumMessageSize: shared.maximumRequestMessageSize)
        let outbound = GRPCOutbound(writer: writer, contentType: contentType)
        let stream = RPCStream(descriptor: descriptor, inbound: RPCAsyncSequence(wrapping: inbound),
                               outbound: RPCWriter.Closable(wrapping: outbound))
        let remotePeer = GRPCPeer.current?.description ?? "unknown"
        let hasDeadline = request.headerFields[GRPCFieldNames.timeout] != nil
        await withServerContextRPCCancellationHandle { handle in
            let context = ServerContext(descriptor: descriptor, remotePeer: remotePeer, localPeer: shared.localPeer,
                                        cancellation: handle)
            // A peer's RST_STREAM (CANCEL) or a closed connection cancels this
            // task (Swiftlet's async API); the RPC hears it through its handle.
            await withTaskCancellationHandler {
                guard hasDeadline else { return await streamHandler(stream, context) }
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await streamHandler(stream, context) }
                    group.addTask { await enforceDeadline(handle: handle, outbound: outbound) }
                    await group.next()
                    group.cancelAll()
                }
            } onCancel: {
                handle.cancel()
            }
        }
    }

    /// grpc-swift's server signals an expired `grpc-timeout` only through
    /// the RPC's cancellation handle ("not by cancelling your handler's
    /// Task"), so a service that waits for a message would wait past its
    /// deadline. The deadline is the server's too: when it passes, the call
    /// ends with DEADLINE_EXCEEDED and the service's task is cancelled
    /// (its reads and writes then throw). Returns when the RPC is
    /// cancelled, or (cancelled itself) when the service finished first.
    static func enforceDeadline(handle: ServerContext.RPCCancellationHandle, outbound: GRPCOutbound) async {
        guard (try? await handle.cancelled) != nil, !Task.isCancelled else { return }
        await outbound.end(Status(code: .deadlineExceeded, message: "the deadline (grpc-timeout) passed"))
    }

    /// "/package.Service/Method" → its descriptor.
    static func methodDescriptor(path: String) -> MethodDescriptor? {
        guard path.hasPrefix("/"), let slash = path.lastIndex(of: "/"), slash > path.startIndex else { return nil }
        let service = path[path.index(after: path.startIndex)..<slash]
        let method = path[path.index(after: slash)...]
        guard !service.isEmpty, !method.isEmpty, !service.contains("/") else { return nil }
        return MethodDescriptor(fullyQualifiedService: String(service), method: String(method))
    }
}

/// Field names gRPC adds to HTTP's.
enum GRPCFieldNames {
    static let status = HTTPField.Name("grpc-status")!
    static let message = HTTPField.Name("grpc-message")!
    static let encoding = HTTPField.Name("grpc-encoding")!
    static let acceptEncoding = HTTPField.Name("grpc-accept-encoding")!
    static let timeout = HTTPField.Name("grpc-timeout")!
}

/// The fields that end a response: "Trailers → Status [Status-Message] *Custom-Metadata".
func statusFields(_ status: Status, metadata: Metadata) -> HTTPFields {
    var fields: HTTPFields = [GRPCFieldNames.status: String(status.code.rawValue)]
    if !status.message.isEmpty {
        fields[GRPCFieldNames.message] = GRPCMetadataCoding.percentEncoded(status.message)
    }
    GRPCMetadataCoding.append(metadata, to: &fields)
    return fields
}

/// "Trailers-Only": an RPC that fails before any response is one HEADERS
/// frame with END_STREAM, holding both the head and the status.
struct TrailersOnly {
    let writer: HTTPResponseWriter
    let contentType: String

    func send(_ status: Status, metadata: Metadata = [:], extra: HTTPFields = [:]) async throws {
        var fields: HTTPFields = [.contentType: contentType]
        fields.append(contentsOf: extra)
        fields.append(contentsOf: statusFields(status, metadata: metadata))
        try await writer.writeHead(HTTPResponse(status: .ok, headerFields: fields), endOfStream: true)
    }
}

/// The request side of an RPC: its metadata, then each message of the body.
struct GRPCInbound: AsyncSequence, Sendable {
    typealias Element = RPCRequestPart<[UInt8]>
    typealias Failure = any Error
    let metadata: Metadata
    let body: HTTPRequestBody
    let maximumMessageSize: Int

    struct AsyncIterator: AsyncIteratorProtocol {
        var metadata: Metadata?
        var chunks: HTTPRequestBody.AsyncIterator
        var deframer: GRPCMessageDeframer
        var ended = false

        mutating func next() async throws -> RPCRequestPart<[UInt8]>? {
            if let metadata {
                self.metadata = nil
                return .metadata(metadata)
            }
            while true {
                do {
                    if let message = try deframer.next() { return .message(message) }
                } catch {
                    throw Self.error(for: error)
                }
                if ended { return nil }
                guard let chunk = try await chunks.next() else {
                    ended = true
                    guard deframer.isEmpty else {
                        throw RPCError(code: .internalError, message: "the request ended inside a message")
                    }
                    return nil
                }
                deframer.append(chunk)
            }
        }

        static func error(for failure: GRPCMessageDeframer.Failure) -> RPCError {
            switch failure {
            case .compressed:
                RPCError(code: .unimplemented, message: "compressed messages are not supported (no grpc-encoding was negotiated)")
            case .tooLarge(let length):
                RPCError(code: .resourceExhausted, message: "a request message of \(length) bytes is over the limit")
            case .badFlag(let flag):
                RPCError(code: .internalError, message: "invalid Compressed-Flag \(flag)")
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(metadata: metadata, chunks: body.makeAsyncIterator(),
                      deframer: GRPCMessageDeframer(maximumMessageSize: maximumMessageSize))
    }
}

/// The response side of an RPC: "Response → (Response-Headers *Length-Prefixed-Message Trailers) / Trailers-Only".
final class GRPCOutbound: ClosableRPCWriterProtocol {
    typealias Element = RPCResponsePart<[UInt8]>

    private enum Progress { case noHead, head, ended }
    private let writer: HTTPResponseWriter
    private let contentType: String
    private let progress = Mutex(Progress.noHead)

    init(writer: HTTPResponseWriter, contentType: String) {
        self.writer = writer
        self.contentType = contentType
    }

    func write(_ element: RPCResponsePart<[UInt8]>) async throws {
        switch element {
        case .metadata(let metadata):
            guard progress.withLock({ $0 }) == .noHead else {
                throw RPCError(code: .internalError, message: "response metadata after the response began")
            }
            try await sendHead(metadata)
        case .message(let message):
            switch progress.withLock({ $0 }) {
            case .noHead: try await sendHead([:])
            case .head: break
            case .ended: throw RPCError(code: .internalError, message: "a message after the status")
            }
            try await writer.write(GRPCMessageFraming.frame(message))
        case .status(let status, let metadata):
            try await end(status, metadata)
        }
    }

    func write(contentsOf elements: some Sequence<RPCResponsePart<[UInt8]>>) async throws {
        for element in elements { try await write(element) }
    }

    /// The stream ends without a status from the server: the spec requires
    /// one, so it gets INTERNAL.
    func finish() async {
        try? await end(Status(code: .internalError, message: "the RPC ended without a status"), [:])
    }

    func finish(throwing error: any Error) async {
        let status = (error as? RPCError).map { Status(code: Status.Code($0.code), message: $0.message) }
            ?? Status(code: .unknown, message: "\(error)")
        try? await end(status, [:])
    }

    /// Ends the call with `status` unless it already ended.
    func end(_ status: Status) async {
        try? await end(status, [:])
    }

    private func sendHead(_ metadata: Metadata) async throws {
        progress.withLock { $0 = .head }
        var fields: HTTPFields = [.contentType: contentType]
        GRPCMetadataCoding.append(metadata, to: &fields)
        try await writer.writeHead(HTTPResponse(status: .ok, headerFields: fields))
    }

    private func end(_ status: Status, _ metadata: Metadata) async throws {
        let before = progress.withLock { progress in
            defer { progress = .ended }
            return progress
        }
        switch before {
        case .noHead: try await TrailersOnly(writer: writer, contentType: contentType).send(status, metadata: metadata)
        case .head: try await writer.finish(trailers: statusFields(status, metadata: metadata))
        case .ended: return
        }
    }
}
