import SwiftletHTTP

/// A message of a WebSocket (RFC 6455 §5.6).
public enum WebSocketMessage: Equatable, Sendable {
    case text(String)
    case binary([UInt8])
}

/// What an application does with one WebSocket. Called on the loop's thread.
public protocol WebSocketDelegate: AnyObject {
    /// A whole message arrived (fragments reassembled, text validated).
    func webSocket(_ socket: WebSocket, didReceive message: WebSocketMessage)
    /// Queued output fell back below the exchange's low watermark.
    func webSocketDidBecomeWritable(_ socket: WebSocket)
    /// The socket closed: `code` is what the peer's Close frame said (nil
    /// if it gave none or the stream ended without one), or the code this
    /// side failed the connection with.
    func webSocketDidClose(_ socket: WebSocket, code: WebSocketCloseCode?, reason: String)
}

extension WebSocketDelegate {
    public func webSocketDidBecomeWritable(_ socket: WebSocket) {}
    public func webSocketDidClose(_ socket: WebSocket, code: WebSocketCloseCode?, reason: String) {}
}

/// One open WebSocket on an exchange's stream: decodes what the client
/// sends, answers pings, runs the closing handshake (RFC 6455 §7), and
/// frames what the application sends. Loop-confined.
public final class WebSocket {
    /// The stream it runs on; nil once the exchange closed.
    private var exchange: (any HTTPExchange)?
    public private(set) weak var delegate: (any WebSocketDelegate)?
    private var decoder: WebSocketDecoder
    private var output: [UInt8] = []
    /// A Close frame went out: nothing more may be sent (§5.5.1).
    public private(set) var closeSent = false
    private var closeReported = false

    init(exchange: any HTTPExchange, delegate: any WebSocketDelegate, limits: WebSocketDecoder.Limits) {
        self.exchange = exchange
        self.delegate = delegate
        decoder = WebSocketDecoder(role: .server, limits: limits)
    }

    /// The request that opened it (valid while the socket is open).
    public var request: HTTPRequestHead? { exchange?.request }

    /// Whether more can be sent without queueing past the high watermark.
    public var isWritable: Bool { exchange?.isWritable ?? false }

    /// Sends a message as one frame (does nothing after `close`).
    public func send(_ message: WebSocketMessage) {
        switch message {
        case .text(let text): write(.text, Array(text.utf8))
        case .binary(let bytes): write(.binary, bytes)
        }
    }

    /// Starts the closing handshake (§7.1.2): a Close frame with `code`;
    /// the stream ends when the client's Close arrives or its side ends.
    public func close(_ code: WebSocketCloseCode = .normalClosure, reason: String = "") {
        guard !closeSent, let exchange else { return }
        closeSent = true
        output.removeAll(keepingCapacity: true)
        WebSocketEncoder.close(code, reason: reason, into: &output)
        output.withUnsafeBytes { exchange.sendBody(copying: $0, endOfStream: decoder.isFinished) }
    }

    private func write(_ opcode: WebSocketOpcode, _ payload: [UInt8]) {
        guard !closeSent, let exchange else { return }
        output.removeAll(keepingCapacity: true)
        WebSocketEncoder.frame(opcode, payload, into: &output)
        output.withUnsafeBytes { exchange.sendBody(copying: $0, endOfStream: false) }
    }

    // MARK: from the exchange

    func receive(_ bytes: UnsafeRawBufferPointer) {
        let (events, violation) = decoder.receive(bytes)
        for event in events {
            switch event {
            case .text(let text): delegate?.webSocket(self, didReceive: .text(text))
            case .binary(let bytes): delegate?.webSocket(self, didReceive: .binary(bytes))
            // "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame
            // in response, unless it already received a Close frame." (§5.5.2)
            case .ping(let payload): write(.pong, payload)
            case .pong: break  // unsolicited pongs need no answer (§5.5.3)
            case .close(let code, let reason):
                // "If an endpoint receives a Close frame and did not previously
                // send a Close frame, the endpoint MUST send a Close frame in
                // response." (§5.5.1) It echoes the code; then the stream ends.
                if closeSent {
                    exchange?.finish(trailers: nil)
                } else {
                    close(code ?? .normalClosure, reason: "")
                }
                report(code: code, reason: reason)
            }
        }
        if let violation {
            // §7.1.7 _Fail the WebSocket Connection_: a Close with the code,
            // then the stream ends.
            if closeSent {
                exchange?.finish(trailers: nil)
            } else {
                closeSent = true
                output.removeAll(keepingCapacity: true)
                WebSocketEncoder.close(violation.closeCode, reason: violation.reason, into: &output)
                output.withUnsafeBytes { exchange?.sendBody(copying: $0, endOfStream: true) }
            }
            report(code: violation.closeCode, reason: violation.reason)
        }
    }

    /// The client's side of the stream ended.
    func peerEnded() {
        guard !decoder.isFinished else { return }
        // Ended without a Close frame (1006 to the application, a code never
        // sent on the wire, §7.1.5): our side ends too, with no Close of ours.
        closeSent = true
        exchange?.finish(trailers: nil)
        report(code: nil, reason: "")
    }

    func becameWritable() { delegate?.webSocketDidBecomeWritable(self) }

    func exchangeClosed() {
        exchange = nil
        closeSent = true
        report(code: nil, reason: "")
    }

    private func report(code: WebSocketCloseCode?, reason: String) {
        guard !closeReported else { return }
        closeReported = true
        delegate?.webSocketDidClose(self, code: code, reason: reason)
    }
}

/// Serves WebSockets over HTTP/2 (RFC 8441): an extended CONNECT with
/// `:protocol websocket` and `sec-websocket-version: 13` is offered to
/// `accept`, which returns the socket's delegate (or nil: 404). The answer
/// is a 200 with no `sec-websocket-accept` (RFC 8441 §5: the stream is the
/// proof), then frames both ways on the stream. Any other request goes to
/// `fallback` (404 without one). The server must advertise
/// SETTINGS_ENABLE_CONNECT_PROTOCOL (`Limits.enableConnectProtocol`).
///
/// Not yet served: RFC 6455's HTTP/1.1 `Upgrade: websocket`, subprotocols
/// and extensions (none is negotiated, so reserved bits stay 0).
public final class WebSocketHandler: HTTPHandler {
    public typealias Acceptor = (HTTPRequestHead) -> (any WebSocketDelegate)?

    let accept: Acceptor
    let fallback: (any HTTPHandler)?
    let limits: WebSocketDecoder.Limits

    public init(limits: WebSocketDecoder.Limits = .init(), fallback: (any HTTPHandler)? = nil, accept: @escaping Acceptor) {
        self.accept = accept
        self.fallback = fallback
        self.limits = limits
    }

    /// RFC 8441 §4–§5: CONNECT with `:protocol` websocket.
    static func isWebSocket(_ request: HTTPRequestHead) -> Bool {
        guard request.methodIs("CONNECT"), let name = request.protocolBytes else { return false }
        return ASCII.equalIgnoringCase(name, "websocket")
    }

    public func exchangeDidStart(_ exchange: any HTTPExchange) {
        let request = exchange.request
        guard Self.isWebSocket(request) else {
            if let fallback { return fallback.exchangeDidStart(exchange) }
            return Self.respond(exchange, status: 404)
        }
        // RFC 6455 §4.4 (RFC 8441 §5 keeps it): a version the server does not
        // speak gets 400 naming the ones it does.
        guard let version = request.fields.first("sec-websocket-version"),
              version.elementsEqual(WebSocketHandshake.version.utf8) else {
            exchange.responseFields.append("sec-websocket-version", WebSocketHandshake.version)
            return Self.respond(exchange, status: 400)
        }
        guard let delegate = accept(request) else { return Self.respond(exchange, status: 404) }
        let socket = WebSocket(exchange: exchange, delegate: delegate, limits: limits)
        exchange.context = socket
        exchange.sendHead(status: 200, endOfStream: false)
    }

    public func exchange(_ exchange: any HTTPExchange, didReceiveBody bytes: UnsafeRawBufferPointer) {
        if let socket = exchange.context as? WebSocket { return socket.receive(bytes) }
        fallback?.exchange(exchange, didReceiveBody: bytes)
    }

    public func exchange(_ exchange: any HTTPExchange, didFinishRequestWith trailers: HTTPFieldList?) {
        if let socket = exchange.context as? WebSocket { return socket.peerEnded() }
        fallback?.exchange(exchange, didFinishRequestWith: trailers)
    }

    public func exchangeDidBecomeWritable(_ exchange: any HTTPExchange) {
        if let socket = exchange.context as? WebSocket { return socket.becameWritable() }
        fallback?.exchangeDidBecomeWritable(exchange)
    }

    public func exchangeDidClose(_ exchange: any HTTPExchange, reason: HTTPExchangeCloseReason) {
        if let socket = exchange.context as? WebSocket {
            exchange.context = nil
            return socket.exchangeClosed()
        }
        fallback?.exchangeDidClose(exchange, reason: reason)
    }

    private static func respond(_ exchange: any HTTPExchange, status: Int) {
        exchange.responseFields.append("content-length", "0")
        exchange.sendHead(status: status, endOfStream: true)
    }
}
