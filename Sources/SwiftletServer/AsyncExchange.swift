import HTTPTypes
import SwiftletHTTP
import SwiftletLoop

/// Why an async handler's request body or response writer stopped working:
/// the exchange ended before the handler was done with it (the peer reset
/// the stream, the connection closed, or the response was already complete).
public struct HTTPExchangeClosedError: Error, Equatable, CustomStringConvertible {
    public let reason: HTTPExchangeCloseReason
    public var description: String { "the exchange closed: \(reason)" }
}

/// A misuse of the response writer, named in the message.
public struct HTTPResponseWriterError: Error, Equatable, CustomStringConvertible {
    public let description: String
}

/// The state one async exchange shares between the protocol's callbacks
/// (`AsyncHTTPHandler`) and the handler's task (`HTTPRequestBody`,
/// `HTTPResponseWriter`).
///
/// `@unchecked Sendable`: every stored property is read and written on the
/// loop's thread only. The handler's task runs there because it prefers the
/// loop's task executor; the public entry points of `HTTPRequestBody` and
/// `HTTPResponseWriter` check `loop.inLoop` and otherwise `hop` there first,
/// so a handler that hands its writer to another task stays correct.
final class AsyncExchange: @unchecked Sendable {
    let loop: EventLoop
    /// The protocol's handle; nil once it closed (it may then serve another request).
    private(set) var exchange: (any HTTPExchange)?
    private(set) var closeReason: HTTPExchangeCloseReason?
    var task: Task<Void, Never>?

    // Request body: chunks copied out of the receive ring, at most one
    // waiting for a reader (the exchange is paused while one waits).
    // An `UncheckedCell` (no run-time exclusivity checks on each request).
    // Invariant: the array's mutations release only byte arrays, which run
    // no code that could reach this object.
    private let chunksCell = UncheckedCell<[[UInt8]]>([])
    private var chunks: [[UInt8]] {
        unsafeAddress { chunksCell.address }
        unsafeMutableAddress { chunksCell.mutableAddress }
    }
    private var chunkIndex = 0
    private var bodyEnded = false
    private(set) var trailers: HTTPFields?
    private var bodyWaiter: CheckedContinuation<[UInt8]?, any Error>? {
        unsafeAddress { bodyWaiterCell.address }
        unsafeMutableAddress { bodyWaiterCell.mutableAddress }
    }

    // Response.
    /// The handler returned or threw.
    private var handlerDone = false
    private(set) var headSent = false
    private(set) var finished = false
    private var writableWaiter: CheckedContinuation<Void, any Error>? {
        unsafeAddress { writableWaiterCell.address }
        unsafeMutableAddress { writableWaiterCell.mutableAddress }
    }
    // The waiters are set inside the continuation's closure, so Swift
    // checks every access to them at run time (five a request) unless they
    // live in `UncheckedCell`s. Invariant: a waiter is taken out before it
    // is resumed, so no access overlaps the code a resumption runs.
    private let bodyWaiterCell = UncheckedCell<CheckedContinuation<[UInt8]?, any Error>?>(nil)
    private let writableWaiterCell = UncheckedCell<CheckedContinuation<Void, any Error>?>(nil)

    /// The request's `content-length`, if it declared one.
    private(set) var declaredLength: Int?

    init(loop: EventLoop) {
        self.loop = loop
    }

    /// Starts serving `exchange`. A recycled object (`AsyncHTTPHandler`
    /// keeps spares) was `reset` first.
    func begin(_ exchange: any HTTPExchange) {
        self.exchange = exchange
        declaredLength = exchange.request.fields.first("content-length").flatMap { Int(String(decoding: $0, as: UTF8.self)) }
        // Nothing is read until the handler asks (see `nextChunk`).
        exchange.pauseRequestBody()
    }

    /// Whether the exchange closed and the handler returned: nothing of
    /// this object is in use any more (its owner also checks that nobody
    /// else holds it before recycling it).
    var isDone: Bool { exchange == nil && handlerDone }

    /// Back to the state `init` makes, keeping the body buffer's capacity.
    func reset() {
        precondition(isDone && bodyWaiter == nil && writableWaiter == nil, "an async exchange recycled while in use")
        closeReason = nil
        task = nil
        chunks.removeAll(keepingCapacity: true)
        chunkIndex = 0
        bodyEnded = false
        trailers = nil
        handlerDone = false
        headSent = false
        finished = false
        declaredLength = nil
    }

    /// Runs `operation` on the loop for a caller that is not on it (a task
    /// the handler started, an actor elsewhere).
    func hop<T: Sendable>(_ operation: sending @escaping @isolated(any) () async throws -> T) async throws -> T {
        try await loop.hop(operation)
    }

    private func closedError() -> HTTPExchangeClosedError {
        HTTPExchangeClosedError(reason: closeReason ?? .connectionClosed)
    }

    // MARK: protocol side (AsyncHTTPHandler's callbacks)

    func bodyArrived(_ bytes: UnsafeRawBufferPointer) {
        guard !handlerDone else { return }  // read and dropped (`discardUnreadBody`)
        let chunk = [UInt8](bytes)
        if let waiter = bodyWaiter.take() {
            waiter.resume(returning: chunk)
        } else {
            chunks.append(chunk)
        }
        // Hold the rest in the protocol (bounded by the flow-control window)
        // until the reader comes back for more.
        exchange?.pauseRequestBody()
    }

    func requestEnded(trailers: HTTPFieldList?) {
        bodyEnded = true
        self.trailers = try? trailers?.httpTypesFields()
        if let waiter = bodyWaiter.take() {
            waiter.resume(returning: nil)
        }
    }

    func becameWritable() {
        if let waiter = writableWaiter.take() {
            waiter.resume()
        }
    }

    func closed(reason: HTTPExchangeCloseReason) {
        exchange = nil
        closeReason = reason
        let error = closedError()
        if let waiter = bodyWaiter.take() {
            waiter.resume(throwing: error)
        }
        if let waiter = writableWaiter.take() {
            waiter.resume(throwing: error)
        }
        // A peer that reset the stream, or a connection that went away,
        // cancels the handler's work; a completed response does not.
        if reason != .completed { task?.cancel() }
        // A handler that already returned needs no cancelling: let its task
        // go now rather than when this state is next reused. (A handler that
        // finished without suspending returned before `task` was even set.)
        if handlerDone { task = nil }
    }

    /// The handler returned (or threw): end what it left open. A response
    /// never started gets 500 (413 for a body over its limit); one started
    /// and not finished is finished when the handler returned normally and
    /// reset when it threw, so the client knows it is incomplete.
    func handlerEnded(error: (any Error)?) {
        handlerDone = true
        // Nothing left to cancel. Dropping the handle also lets the task,
        // and with it the closure that holds this object, go when it ends.
        task = nil
        defer { discardUnreadBody() }
        guard let exchange, !finished else { return }
        if !headSent {
            let status = error is HTTPRequestBodyTooLargeError ? 413 : 500
            exchange.responseFields.removeAll()
            exchange.responseFields.append("content-length", "0")
            headSent = true
            finished = true
            exchange.sendHead(status: status, endOfStream: true)
        } else if error == nil {
            finished = true
            exchange.finish(trailers: nil)
        } else {
            finished = true
            exchange.cancel()
        }
    }

    /// The handler is gone: the request body it did not read is read and
    /// dropped, so the stream can end. Left paused, it would hold an HTTP/2
    /// stream (and a graceful shutdown waiting for it) open until the
    /// client gave up: a 413, 415 or early answer leaves a body unread.
    /// (HTTP/1.1 closes the connection after such a response instead.)
    private func discardUnreadBody() {
        guard let exchange, !bodyEnded else { return }
        chunks.removeAll()
        chunkIndex = 0
        exchange.resumeRequestBody()
    }

    // MARK: handler side (on the loop)

    nonisolated(nonsending) func nextChunk() async throws -> [UInt8]? {
        if chunkIndex < chunks.count {
            let chunk = chunks[chunkIndex]
            chunkIndex += 1
            if chunkIndex == chunks.count {
                chunks.removeAll(keepingCapacity: true)
                chunkIndex = 0
            }
            return chunk
        }
        if bodyEnded { return nil }
        guard let exchange else { throw closedError() }
        try Task.checkCancellation()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                bodyWaiter = continuation
                exchange.resumeRequestBody()  // may deliver at once, resuming the waiter
            }
        } onCancel: {
            loop.execute { self.cancelWaiters() }
        }
    }

    /// Sends `response`'s head; `contentLength` adds a `content-length`
    /// field (written straight into the field list, not through their types).
    func writeHead(_ response: HTTPResponse, endOfStream: Bool, contentLength: Int? = nil) throws {
        guard let exchange else { throw closedError() }
        let status = response.status  // parsed from its storage on each read
        let informational = status.kind == .informational
        if headSent && !informational || finished {
            throw HTTPResponseWriterError(description: "the response head was already sent")
        }
        if informational && endOfStream {
            throw HTTPResponseWriterError(description: "a 1xx response cannot end the response")
        }
        if let contentLength, !informational {
            exchange.responseFields.append(response.headerFields)
            exchange.responseFields.append("content-length", integer: contentLength)
            exchange.sendHead(status: status.code, endOfStream: endOfStream)
        } else {
            exchange.sendHead(response, endOfStream: endOfStream)
        }
        if !informational {
            headSent = true
            finished = endOfStream
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, endOfStream: Bool) throws {
        guard let exchange else { throw closedError() }
        guard headSent else { throw HTTPResponseWriterError(description: "write before writeHead: send the response head first") }
        guard !finished else { throw HTTPResponseWriterError(description: "write after the response was finished") }
        finished = endOfStream
        exchange.sendBody(copying: bytes, endOfStream: endOfStream)
    }

    /// Suspends while the exchange's queued response body is above its high watermark.
    nonisolated(nonsending) func waitUntilWritable() async throws {
        guard let exchange else { throw closedError() }
        guard !exchange.isWritable else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                writableWaiter = continuation
            }
        } onCancel: {
            loop.execute { self.cancelWaiters() }
        }
    }

    func finish(trailers: HTTPFields?) throws {
        guard let exchange else { throw closedError() }
        guard !finished else { throw HTTPResponseWriterError(description: "the response was already finished") }
        if !headSent {
            throw HTTPResponseWriterError(description: "finish before writeHead: send the response head first")
        }
        finished = true
        if let trailers { exchange.finish(trailers: trailers) } else { exchange.finish(trailers: nil) }
    }

    /// The handler's task was cancelled while it waited.
    private func cancelWaiters() {
        if let waiter = bodyWaiter.take() {
            waiter.resume(throwing: CancellationError())
        }
        if let waiter = writableWaiter.take() {
            waiter.resume(throwing: CancellationError())
        }
    }
}
