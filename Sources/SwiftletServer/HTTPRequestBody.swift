import Glibc
import HTTPTypes
import SwiftletHTTP

/// The request body of an async handler: an `AsyncSequence` of byte chunks
/// with back-pressure, then trailers.
///
/// Nothing is read until the handler asks: the exchange stays paused, so a
/// handler that never reads holds at most the stream's flow-control window
/// (HTTP/2) or stops reading the socket (HTTP/1.1), and an HTTP/1.1 client
/// that sent `expect: 100-continue` gets its `100 Continue` only when the
/// body is first read (a handler that answers 401 or 413 without reading
/// never invites the body). Each chunk is copied out of the receive ring;
/// at most one is held beyond what the protocol holds.
///
/// Iterate it once, on the handler's task (another task works too, through
/// a hop to the loop). Iteration throws `HTTPExchangeClosedError` when the
/// peer reset the stream or the connection closed, and `CancellationError`
/// when the handler's task was cancelled.
public struct HTTPRequestBody: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    let state: AsyncExchange

    public struct AsyncIterator: AsyncIteratorProtocol {
        let state: AsyncExchange

        nonisolated(nonsending) public mutating func next() async throws -> [UInt8]? {
            if state.loop.inLoop { return try await state.nextChunk() }
            let state = self.state
            return try await state.hop { try await state.nextChunk() }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(state: state) }

    /// The request's trailers, once the body was read to its end (nil
    /// before, or when there were none).
    public var trailers: HTTPFields? {
        get async throws {
            if state.loop.inLoop { return state.trailers }
            let state = self.state
            return try await state.hop { state.trailers }
        }
    }

    /// Reads the whole body, refusing one longer than `limit` bytes with
    /// `HTTPRequestBodyTooLargeError` before reading it when the request
    /// declares its length, else as soon as it grows past the limit. A
    /// handler that lets the error escape answers 413 (Content Too Large,
    /// RFC 9110 §15.5.14) when no response was started.
    nonisolated(nonsending) public func collect(upTo limit: Int) async throws -> [UInt8] {
        if let declared = state.declaredLength, declared > limit {
            throw HTTPRequestBodyTooLargeError(limit: limit)
        }
        var collected: [UInt8] = []
        for try await chunk in self {
            guard collected.count + chunk.count <= limit else { throw HTTPRequestBodyTooLargeError(limit: limit) }
            collected += chunk
        }
        return collected
    }

    /// Writes the body to `descriptor` (a file, a pipe) as it arrives and
    /// returns the bytes written. The writes are plain `write(2)` calls on
    /// the loop thread: meant for files, whose writes land in the page cache.
    nonisolated(nonsending) public func write(toFileDescriptor descriptor: Int32) async throws -> Int {
        var total = 0
        for try await chunk in self {
            try chunk.withUnsafeBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        throw HTTPRequestBodyWriteError(errno: errno)
                    }
                    offset += written
                }
            }
            total += chunk.count
        }
        return total
    }
}

/// The request body is longer than the handler accepts.
public struct HTTPRequestBodyTooLargeError: Error, Equatable, CustomStringConvertible {
    public let limit: Int
    public var description: String { "the request body is longer than \(limit) bytes" }
}

/// Writing the request body to a descriptor failed.
public struct HTTPRequestBodyWriteError: Error, Equatable, CustomStringConvertible {
    public let errno: Int32
    public var description: String { "writing the request body failed: \(String(cString: strerror(errno)))" }
}
