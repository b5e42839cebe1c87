import HTTPTypes
import SwiftletHTTP

/// Writes an async handler's response: informational heads, the head, body
/// chunks that wait while the peer is slow, then the end with optional
/// trailers.
///
///     try await response.writeHead(HTTPResponse(status: .ok, headerFields: [.contentType: "text/plain"]))
///     try await response.write("hello\n")
///     try await response.finish()
///
/// Each call throws `HTTPExchangeClosedError` once the exchange closed (the
/// peer reset the stream or went away) and `HTTPResponseWriterError` for
/// calls out of order (a body before the head, anything after the end).
/// A handler that returns without finishing has its response finished for
/// it; one that throws has it reset (HTTP/2 RST_STREAM INTERNAL_ERROR,
/// HTTP/1.1 closes the connection) or, when nothing was sent yet, answered
/// with 500 (413 for `HTTPRequestBodyTooLargeError`).
public struct HTTPResponseWriter: Sendable {
    let state: AsyncExchange

    /// Sends an informational (1xx) head, such as 103 Early Hints; the
    /// final head follows. Never sent to an HTTP/1.0 client.
    nonisolated(nonsending) public func sendInformational(_ response: HTTPResponse) async throws {
        guard response.status.kind == .informational else {
            throw HTTPResponseWriterError(description: "sendInformational needs a 1xx status, not \(response.status.code)")
        }
        try await writeHead(response)
    }

    /// Sends the response head. `endOfStream`: the response has no body.
    nonisolated(nonsending) public func writeHead(_ response: HTTPResponse, endOfStream: Bool = false) async throws {
        if state.loop.inLoop { return try state.writeHead(response, endOfStream: endOfStream) }
        let state = self.state
        try await state.hop { try state.writeHead(response, endOfStream: endOfStream) }
    }

    /// Queues body bytes (copied), then waits while the queued body is above
    /// the exchange's high watermark (the peer's window is closed or it reads
    /// slowly), so a producer never runs ahead of the client.
    nonisolated(nonsending) public func write(_ bytes: some Collection<UInt8> & Sendable) async throws {
        if state.loop.inLoop { return try await Self.write(bytes, endOfStream: false, state: state) }
        let state = self.state
        try await state.hop { try await Self.write(bytes, endOfStream: false, state: state) }
    }

    /// Queues the UTF-8 bytes of `text`.
    nonisolated(nonsending) public func write(_ text: String) async throws {
        try await write(Array(text.utf8))
    }

    /// Sends the head, the whole body and the end at once, with
    /// `content-length` set: the usual small response in one call.
    nonisolated(nonsending) public func respond(_ response: HTTPResponse, body: some Collection<UInt8> & Sendable) async throws {
        let length = body.count
        if state.loop.inLoop {
            try state.writeHead(response, endOfStream: length == 0, contentLength: length)
        } else {
            let state = self.state
            try await state.hop { try state.writeHead(response, endOfStream: length == 0, contentLength: length) }
        }
        if length == 0 { return }
        if state.loop.inLoop { return try await Self.write(body, endOfStream: true, state: state) }
        let state = self.state
        try await state.hop { try await Self.write(body, endOfStream: true, state: state) }
    }

    /// Ends the response, with `trailers` if given (HTTP/2 trailers,
    /// HTTP/1.1 chunked trailers).
    nonisolated(nonsending) public func finish(trailers: HTTPFields? = nil) async throws {
        if state.loop.inLoop { return try state.finish(trailers: trailers) }
        let state = self.state
        try await state.hop { try state.finish(trailers: trailers) }
    }

    nonisolated(nonsending)
    private static func write(_ bytes: some Collection<UInt8>, endOfStream: Bool, state: AsyncExchange) async throws {
        let written: Void? = try bytes.withContiguousStorageIfAvailable { buffer in
            try state.write(UnsafeRawBufferPointer(buffer), endOfStream: endOfStream)
        }
        if written == nil {
            try Array(bytes).withUnsafeBytes { try state.write($0, endOfStream: endOfStream) }
        }
        if !endOfStream { try await state.waitUntilWritable() }
    }
}
