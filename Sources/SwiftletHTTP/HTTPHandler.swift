/// Serves requests. One handler object serves every exchange of a server;
/// per-request state hangs on `exchange.context`. All callbacks run on the
/// loop thread that owns the exchange's connection.
///
/// Order per exchange: `exchangeDidStart`, then any number of
/// `didReceiveBody` (unless paused), then `didFinishRequest`; interleaved
/// with those, `exchangeDidBecomeWritable` when queued response body fell
/// low again; and always, last, exactly one `exchangeDidClose`.
public protocol HTTPHandler: AnyObject {
    /// The request head arrived (`exchange.request`). Respond now or later.
    func exchangeDidStart(_ exchange: any HTTPExchange)
    /// A piece of the request body, valid only during the call. When the
    /// call returns the bytes count as consumed (flow control credits them).
    func exchange(_ exchange: any HTTPExchange, didReceiveBody bytes: UnsafeRawBufferPointer)
    /// The request body is complete; `trailers` holds trailer fields if any.
    func exchange(_ exchange: any HTTPExchange, didFinishRequestWith trailers: HTTPFieldList?)
    /// Queued response body fell below the exchange's low watermark.
    func exchangeDidBecomeWritable(_ exchange: any HTTPExchange)
    /// The exchange ended: the response was sent, or it was cancelled.
    func exchangeDidClose(_ exchange: any HTTPExchange, reason: HTTPExchangeCloseReason)
}

extension HTTPExchange {
    public var tlsDescription: (version: String, cipher: String)? { nil }
    public var canSwitchProtocols: Bool { false }
}

extension HTTPHandler {
    public func exchange(_ exchange: any HTTPExchange, didReceiveBody bytes: UnsafeRawBufferPointer) {}
    public func exchange(_ exchange: any HTTPExchange, didFinishRequestWith trailers: HTTPFieldList?) {}
    public func exchangeDidBecomeWritable(_ exchange: any HTTPExchange) {}
    public func exchangeDidClose(_ exchange: any HTTPExchange, reason: HTTPExchangeCloseReason) {}
}

/// Why an exchange ended.
public enum HTTPExchangeCloseReason: Equatable, Sendable, CustomStringConvertible {
    /// The whole response was handed to the connection.
    case completed
    /// The peer cancelled the request (HTTP/2 RST_STREAM with this code).
    case cancelledByPeer(errorCode: UInt32)
    /// The server reset the stream (protocol error, refused, handler cancel).
    case reset(errorCode: UInt32)
    /// The connection closed first.
    case connectionClosed

    public var description: String {
        switch self {
        case .completed: "completed"
        case .cancelledByPeer(let code): "cancelled by peer (error code \(code))"
        case .reset(let code): "reset (error code \(code))"
        case .connectionClosed: "connection closed"
        }
    }
}

/// A response body produced on demand: the protocol asks for more only
/// when the exchange can send (its flow-control window is open and its
/// queued body is low), so a large or slow body is never buffered whole.
public protocol HTTPBodySource: AnyObject {
    /// Queue up to about `maximum` more bytes on `exchange` with `sendBody`
    /// (`endOfStream: true` with the last), or queue nothing and call
    /// `exchange.bodySourceDidBecomeReady()` once more can be produced.
    func exchange(_ exchange: any HTTPExchange, wantsBodyUpTo maximum: Int)
}

/// One request and its response, as a handler sees it. Implemented by the
/// protocol layers (an HTTP/2 stream, an HTTP/1.1 connection's current
/// request). Loop-confined.
///
/// **Lifetime.** A handle is valid from `exchangeDidStart` until
/// `exchangeDidClose` returns; drop it then (clear whatever refers to it,
/// cancel work that would call it). Exchanges are pooled: in release builds
/// the same object may already carry a later request, so a kept handle
/// would answer someone else's request. To make that impossible to miss,
/// every action on a closed handle does nothing, and debug builds never
/// reuse handles and stop with an assertion naming the stale call.
/// Reading a handle (its request, status, bytes sent) inside
/// `exchangeDidClose` is fine; that is how access logs work.
public protocol HTTPExchange: AnyObject {
    /// The request head.
    var request: HTTPRequestHead { get }
    /// Fields for the response head: fill, then `sendHead`. Lowercase names.
    var responseFields: HTTPFieldList { get }
    /// Anything the handler wants to keep with the exchange.
    var context: AnyObject? { get set }
    /// "h2" or "http/1.1".
    var protocolName: StaticString { get }
    /// HTTP/2 stream id (0 for HTTP/1.1).
    var streamID: UInt32 { get }
    /// The peer's address, as text, for logs.
    var remoteAddressDescription: String { get }
    /// TLS version and cipher suite of the connection, for logs; nil over
    /// cleartext.
    var tlsDescription: (version: String, cipher: String)? { get }
    /// The status sent with the response head (0 before `sendHead`).
    var responseStatus: Int { get }
    /// Response body bytes handed to the connection so far.
    var responseBodyBytesSent: Int { get }
    /// When the request head arrived (loop clock, nanoseconds).
    var startTime: UInt64 { get }

    /// Stops body delivery; the protocol buffers what the peer may still
    /// send (bounded by its flow-control window) until `resumeRequestBody`.
    func pauseRequestBody()
    func resumeRequestBody()

    /// Sends the response head with `responseFields`. `endOfStream`: no body.
    /// A 1xx status sends an informational head instead (103 Early Hints,
    /// say; never to an HTTP/1.0 client) and empties `responseFields` for
    /// the final head, which follows.
    func sendHead(status: Int, endOfStream: Bool)
    /// Queues body bytes (copied).
    func sendBody(copying bytes: UnsafeRawBufferPointer, endOfStream: Bool)
    /// Queues body bytes without copying: `owner` is retained until they are
    /// written, then `release` runs (for cached and `mmap`ed files).
    func sendBody(borrowing bytes: UnsafeRawBufferPointer, owner: AnyObject?, release: (() -> Void)?, endOfStream: Bool)
    /// Produces the rest of the body from `source`, pulled as the exchange
    /// can send (after `sendHead`).
    func sendBody(from source: any HTTPBodySource)
    /// A source that produced nothing when asked can produce now.
    func bodySourceDidBecomeReady()
    /// Ends the response: with `trailers` if given (HTTP/2 trailers; HTTP/1.1
    /// chunked trailers), else with an empty end of stream.
    func finish(trailers: HTTPFieldList?)
    /// Whether queued body is below the exchange's high watermark; when it
    /// is not, wait for `exchangeDidBecomeWritable`.
    var isWritable: Bool { get }
    /// Bytes of response body queued and not yet handed to the connection.
    var queuedBodyBytes: Int { get }
    /// Whether `sendHead(status: 101, ...)` can switch the connection to
    /// another protocol now (RFC 9110 §7.8): only an HTTP/1.1 request
    /// without a body, answered from `exchangeDidStart`. The request must
    /// ask to upgrade (an `Upgrade` field and `Connection: upgrade`), and
    /// the response's `upgrade` field must name a protocol it offered; a
    /// 101 that breaks these is answered 500 (logged). After the 101 the
    /// exchange is a byte stream both ways: the peer's bytes arrive as
    /// request body and its FIN as the request's end; response body goes
    /// out as it is, and `finish` closes the connection. HTTP/2 has no 101
    /// (RFC 9113 §8.6).
    var canSwitchProtocols: Bool { get }
    /// Abandons the exchange (HTTP/2: RST_STREAM INTERNAL_ERROR; HTTP/1.1:
    /// the connection closes).
    func cancel()
    /// The response's priority (RFC 9218): what the client asked for until
    /// the handler sets it; a value set here overrides the client's signals
    /// (HTTP/2 schedules by it; HTTP/1.1 has one response at a time).
    var priority: HTTPPriority { get set }
}

/// A connection served by one of the protocols (HTTP/2, HTTP/1.1): what a
/// server needs to run it and to stop it, whatever it speaks.
public protocol ServedConnection: AnyObject {
    /// Finish the requests in progress, accept no new ones, then close
    /// (HTTP/2: the two GOAWAYs of RFC 9113 §6.8; HTTP/1.1: close after the
    /// current response).
    func shutDownGracefully()
    /// Runs once when the connection closes (servers use it to forget it).
    var onClose: ((any ServedConnection) -> Void)? { get set }
}
