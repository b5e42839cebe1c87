import Logging
import HTTPTypes
import SwiftletHTTP
import SwiftletLoop

/// An async request handler: the request head as swift-http-types' value,
/// the body as an async sequence, and a writer for the response.
/// `nonisolated(nonsending)`: it runs on the executor of the request's task
/// (the loop), so calling it switches nothing. A handler isolated to an
/// actor, or marked `@concurrent`, is converted and hops as usual.
public typealias HTTPAsyncResponder = nonisolated(nonsending) @Sendable (HTTPRequest, HTTPRequestBody, HTTPResponseWriter) async throws -> Void

/// Serves every exchange of a loop with an async function that runs on the
/// loop's thread: each request starts a task that prefers the loop's task
/// executor, so the handler runs between the loop's I/O and resumes there
/// after every `await` (unless it awaits an actor isolated elsewhere, and
/// then it comes back). Built on the callback API (`HTTPHandler`), which
/// stays the fast path.
///
/// The task is cancelled when the peer resets the stream or the connection
/// closes; waits on the body or the writer then throw. A request head that
/// swift-http-types cannot represent (a method that is not a token) is
/// answered 400 without calling the handler.
public final class AsyncHTTPHandler: HTTPHandler {
    let loop: EventLoop
    let responder: HTTPAsyncResponder
    /// The states of closed exchanges, the newest last, for the next
    /// requests of this loop (the handler is the loop's). One is reused
    /// once its handler returned and nothing holds it: not its task (an
    /// HTTP/1.1 response ends inside the handler's last call), not a
    /// request body or writer the handler handed on (a later call through
    /// one must fail as closed, not act on another request).
    ///
    /// An `UncheckedCell` (no run-time exclusivity checks, three a request
    /// otherwise). Invariant: the array's mutations release at most an
    /// `AsyncExchange`, whose deinit does not reach this handler.
    private let releasedCell = UncheckedCell<[AsyncExchange]>([])
    private var released: [AsyncExchange] {
        unsafeAddress { releasedCell.address }
        unsafeMutableAddress { releasedCell.mutableAddress }
    }
    /// At most this many are kept (an idle state is about 200 bytes; more
    /// than a loop's requests in flight under h2load -c 32 -m 16).
    static let maximumReleased = 1024
    /// The request fields of recent requests as swift-http-types values: a
    /// client repeats its fields, and converting them again costs about a
    /// tenth of an async request.
    let fieldsMemo = HTTPTypesFieldsMemo()
    /// States made so far (the rest of the requests reused one).
    private(set) var statesMade = 0

    public init(loop: EventLoop, responder: @escaping HTTPAsyncResponder) {
        self.loop = loop
        self.responder = responder
    }

    public func exchangeDidStart(_ exchange: any HTTPExchange) {
        let request: HTTPRequest
        do {
            request = try exchange.request.httpTypesRequest(fieldsMemo: fieldsMemo)
        } catch {
            exchange.responseFields.append("content-length", "0")
            exchange.sendHead(status: 400, endOfStream: true)
            return
        }
        let state = reusableState() ?? makeState()
        state.begin(exchange)
        exchange.context = state
        let responder = self.responder
        // Started immediately: the handler runs inside this callback until it
        // first suspends (a small response needs no job at all), and every
        // resumption after that runs on the loop as its task executor.
        state.task = Task.immediate(executorPreference: loop.taskExecutor) {
            var failure: (any Error)?
            do {
                try await responder(request, HTTPRequestBody(state: state), HTTPResponseWriter(state: state))
            } catch {
                failure = error
            }
            state.handlerEnded(error: failure)
        }
    }

    public func exchange(_ exchange: any HTTPExchange, didReceiveBody bytes: UnsafeRawBufferPointer) {
        (exchange.context as? AsyncExchange)?.bodyArrived(bytes)
    }

    public func exchange(_ exchange: any HTTPExchange, didFinishRequestWith trailers: HTTPFieldList?) {
        (exchange.context as? AsyncExchange)?.requestEnded(trailers: trailers)
    }

    public func exchangeDidBecomeWritable(_ exchange: any HTTPExchange) {
        (exchange.context as? AsyncExchange)?.becameWritable()
    }

    public func exchangeDidClose(_ exchange: any HTTPExchange, reason: HTTPExchangeCloseReason) {
        guard let state = exchange.context as? AsyncExchange else { return }
        state.closed(reason: reason)
        exchange.context = nil
        if released.count == Self.maximumReleased { released.removeFirst() }
        released.append(state)
    }

    private func makeState() -> AsyncExchange {
        statesMade += 1
        return AsyncExchange(loop: loop)
    }

    /// The newest released state that is free (its handler returned and
    /// nothing holds it), reset; looks at the two newest only. One held for
    /// long sinks as newer ones arrive, and leaves when the list is full.
    private func reusableState() -> AsyncExchange? {
        var index = released.count - 1
        while index >= max(released.count - 2, 0) {
            if released[index].isDone && isKnownUniquelyReferenced(&released[index]) {
                let state = released.remove(at: index)
                state.reset()
                return state
            }
            index -= 1
        }
        return nil
    }
}

extension Server {
    /// A server whose every loop serves requests with `responder`, an async
    /// function running on the loop (see `AsyncHTTPHandler`):
    ///
    ///     let server = try Server(configuration: configuration) { request, body, response in
    ///         try await response.respond(HTTPResponse(status: .ok), body: Array("hello\n".utf8))
    ///     }
    public convenience init(configuration: ServerConfiguration, logger: Logger = Logger(label: "swiftlet"),
                            responder: @escaping HTTPAsyncResponder) throws {
        try self.init(configuration: configuration, logger: logger) { loop in
            AsyncHTTPHandler(loop: loop, responder: responder)
        }
    }
}
