import HTTPTypes
import SwiftletHTTP
import SwiftletLoop

/// An async WebSocket handler: runs on the loop for as long as it needs the
/// socket. When it returns, the socket is closed with 1000 (Normal
/// Closure) if it is still open; when it throws, with 1011 (Internal Error).
public typealias WebSocketAsyncHandler = @Sendable (AsyncWebSocket) async throws -> Void

/// One WebSocket as an async handler sees it: the request that opened it,
/// the client's messages as an `AsyncSequence`, and sends that wait while
/// the socket's output is above its high watermark.
///
/// Messages are read only as the handler asks: with more than one waiting,
/// the socket stops reading the client (its frames wait in the protocol,
/// bounded by the flow-control window over HTTP/2 or the socket over
/// HTTP/1.1). Iteration ends when the socket closes; `closeCode` then says
/// how. A close without a closing handshake (the connection or stream went
/// away) also cancels the handler's task.
///
/// Use it from the handler's task (which runs on the loop); from another
/// task or actor every call hops to the loop first.
public struct AsyncWebSocket: Sendable {
    let state: AsyncWebSocketState

    /// The request that opened the socket (the HTTP/1.1 GET or the HTTP/2
    /// extended CONNECT), as swift-http-types' value.
    public var request: HTTPRequest { state.request }

    /// The client's messages, in order, until the socket closes.
    public var messages: Messages { Messages(state: state) }

    public struct Messages: AsyncSequence, Sendable {
        public typealias Element = WebSocketMessage
        let state: AsyncWebSocketState

        public struct AsyncIterator: AsyncIteratorProtocol {
            let state: AsyncWebSocketState

            nonisolated(nonsending) public mutating func next() async throws -> WebSocketMessage? {
                if state.loop.inLoop { return try await state.nextMessage() }
                let state = self.state
                return try await state.loop.hop { try await state.nextMessage() }
            }
        }

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(state: state) }
    }

    /// Sends `message` as one frame, first waiting while the socket's queued
    /// output is above its high watermark. Throws `WebSocketClosedError`
    /// once the socket closed or this side sent its Close.
    nonisolated(nonsending) public func send(_ message: WebSocketMessage) async throws {
        if state.loop.inLoop { return try await state.send(message) }
        let state = self.state
        try await state.loop.hop { try await state.send(message) }
    }

    /// Starts the closing handshake (RFC 6455 §7.1.2); `messages` ends once
    /// the client answers with its Close (or goes away). Does nothing when
    /// a Close was already sent.
    nonisolated(nonsending) public func close(_ code: WebSocketCloseCode = .normalClosure, reason: String = "") async {
        if state.loop.inLoop {
            state.socket?.close(code, reason: reason)
            return
        }
        let state = self.state
        _ = try? await state.loop.hop { state.socket?.close(code, reason: reason) }
    }

    /// Why the socket closed: the code of the client's Close frame (or the
    /// code this side failed the connection with); nil while it is open, or
    /// when it closed without a code (1005/1006: no Close frame, or none
    /// with a code).
    public var closeCode: WebSocketCloseCode? {
        get async {
            if state.loop.inLoop { return state.closeCode }
            let state = self.state
            return try? await state.loop.hop { state.closeCode }
        }
    }
}

/// A send on a WebSocket that is closed (or closing: a Close went out).
public struct WebSocketClosedError: Error, Equatable, CustomStringConvertible {
    public var description: String { "the WebSocket is closed" }
}

extension WebSocketHandler {
    /// Serves the WebSockets `accept` takes with async handlers that run on
    /// `loop` (one task per socket, started when the handshake's answer went
    /// out); every other request goes to `fallback` (404 without one).
    ///
    ///     WebSocketHandler(loop: loop, fallback: files) { request in
    ///         guard request.pathBytes.elementsEqual("/echo".utf8) else { return nil }
    ///         return { socket in
    ///             for try await message in socket.messages { try await socket.send(message) }
    ///         }
    ///     }
    public convenience init(loop: EventLoop, limits: WebSocketDecoder.Limits = .init(), fallback: (any HTTPHandler)? = nil,
                            accept: @escaping (HTTPRequestHead) -> WebSocketAsyncHandler?) {
        self.init(limits: limits, fallback: fallback) { request in
            guard let handler = accept(request) else { return nil }
            // The socket's request head is valid only during this call: the
            // handler gets it as a value. The handshake parsed, so it converts.
            let value = (try? request.httpTypesRequest()) ?? HTTPRequest(method: .get, scheme: nil, authority: nil, path: nil)
            return AsyncWebSocketState(loop: loop, request: value, handler: handler)
        }
    }
}

/// The state an async WebSocket shares between the socket's delegate
/// callbacks and the handler's task.
///
/// `@unchecked Sendable`: every stored property is read and written on the
/// loop's thread only (the task prefers the loop's executor, and the public
/// entry points hop there when called from elsewhere). The running task
/// keeps it alive; the socket holds it weakly, as any delegate.
final class AsyncWebSocketState: WebSocketDelegate, @unchecked Sendable {
    let loop: EventLoop
    let request: HTTPRequest
    private let handler: WebSocketAsyncHandler
    private(set) var socket: WebSocket?
    private var task: Task<Void, Never>?

    private var queued: [WebSocketMessage] = []
    private var queuedIndex = 0
    private var messageWaiter: CheckedContinuation<WebSocketMessage?, any Error>?
    private var writableWaiter: CheckedContinuation<Void, any Error>?
    /// A message went to the waiting handler, which has not asked for the
    /// next one yet (it is still handling that one).
    private var handling = false
    private var isClosed = false
    private(set) var closeCode: WebSocketCloseCode?

    init(loop: EventLoop, request: HTTPRequest, handler: @escaping WebSocketAsyncHandler) {
        self.loop = loop
        self.request = request
        self.handler = handler
    }

    // MARK: the socket's callbacks

    func webSocketDidOpen(_ socket: WebSocket) {
        self.socket = socket
        let handler = self.handler
        // Started immediately (it runs until it first suspends), then on the
        // loop as its task executor.
        task = Task.immediate(executorPreference: loop.taskExecutor) {
            var failed = false
            do {
                try await handler(AsyncWebSocket(state: self))
            } catch {
                failed = true
            }
            self.handlerEnded(failed: failed)
        }
    }

    func webSocket(_ socket: WebSocket, didReceive message: WebSocketMessage) {
        if let waiter = messageWaiter {
            messageWaiter = nil
            handling = true
            waiter.resume(returning: message)
            return
        }
        queued.append(message)
        // One message waits for the reader; the client's next ones wait in
        // the protocol until the reader comes back.
        socket.pauseReceiving()
    }

    /// The client's Close is answered once the handler has handled the
    /// messages before it: when it asks for the one after them.
    func webSocketHoldsCloseAnswer(_ socket: WebSocket) -> Bool {
        handling || queuedIndex < queued.count
    }

    func webSocketDidBecomeWritable(_ socket: WebSocket) {
        if let waiter = writableWaiter {
            writableWaiter = nil
            waiter.resume()
        }
    }

    func webSocketDidClose(_ socket: WebSocket, code: WebSocketCloseCode?, reason: String) {
        isClosed = true
        closeCode = code
        self.socket = nil
        if let waiter = messageWaiter {
            messageWaiter = nil
            waiter.resume(returning: nil)
        }
        if let waiter = writableWaiter {
            writableWaiter = nil
            waiter.resume(throwing: WebSocketClosedError())
        }
        // Gone without a closing handshake: the handler's work is moot.
        if code == nil { task?.cancel() }
    }

    private func handlerEnded(failed: Bool) {
        task = nil
        // §7.4.1: 1011 "indicates that a server is terminating the connection
        // because it encountered an unexpected condition".
        socket?.close(failed ? .internalError : .normalClosure)
    }

    // MARK: the handler's side (on the loop)

    nonisolated(nonsending) func nextMessage() async throws -> WebSocketMessage? {
        handling = false
        if queuedIndex < queued.count {
            let message = queued[queuedIndex]
            queuedIndex += 1
            handling = true
            if queuedIndex == queued.count {
                queued.removeAll(keepingCapacity: true)
                queuedIndex = 0
                socket?.resumeReceiving()  // may deliver at once
            }
            return message
        }
        // Every message before the client's Close was handled: answer it
        // (the socket then closes, and the sequence ends).
        socket?.answerClose()
        if isClosed { return nil }
        try Task.checkCancellation()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                messageWaiter = continuation
            }
        } onCancel: {
            loop.execute { self.cancelWaiters() }
        }
    }

    nonisolated(nonsending) func send(_ message: WebSocketMessage) async throws {
        guard let socket, !socket.closeSent else { throw WebSocketClosedError() }
        if !socket.isWritable {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    writableWaiter = continuation
                }
            } onCancel: {
                loop.execute { self.cancelWaiters() }
            }
        }
        guard let socket = self.socket, !socket.closeSent else { throw WebSocketClosedError() }
        socket.send(message)
    }

    /// The handler's task was cancelled while it waited.
    private func cancelWaiters() {
        if let waiter = messageWaiter {
            messageWaiter = nil
            waiter.resume(throwing: CancellationError())
        }
        if let waiter = writableWaiter {
            writableWaiter = nil
            waiter.resume(throwing: CancellationError())
        }
    }
}
