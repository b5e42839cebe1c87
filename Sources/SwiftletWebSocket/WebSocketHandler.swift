import SwiftletHTTP

/// A message of a WebSocket (RFC 6455 §5.6).
public enum WebSocketMessage: Equatable, Sendable {
    case text(String)
    case binary([UInt8])
}

/// What an application does with one WebSocket. Called on the loop's thread.
public protocol WebSocketDelegate: AnyObject {
    /// The handshake's answer went out: the socket can send.
    func webSocketDidOpen(_ socket: WebSocket)
    /// A whole message arrived (fragments reassembled, text validated).
    func webSocket(_ socket: WebSocket, didReceive message: WebSocketMessage)
    /// Queued output fell back below the exchange's low watermark.
    func webSocketDidBecomeWritable(_ socket: WebSocket)
    /// The client's Close arrived: whether the answer should wait because
    /// messages that came before it are still unread (a delegate that reads
    /// later than messages arrive); it then calls `answerClose()` once they
    /// were read. RFC 6455 §5.5.1 lets it: "An endpoint MAY delay sending a
    /// Close frame until its current message is sent". By default the
    /// answer goes at once.
    func webSocketHoldsCloseAnswer(_ socket: WebSocket) -> Bool
    /// The socket closed: `code` is what the peer's Close frame said (nil
    /// if it gave none or the stream ended without one), or the code this
    /// side failed the connection with.
    func webSocketDidClose(_ socket: WebSocket, code: WebSocketCloseCode?, reason: String)
}

extension WebSocketDelegate {
    public func webSocketDidOpen(_ socket: WebSocket) {}
    public func webSocketDidBecomeWritable(_ socket: WebSocket) {}
    public func webSocketHoldsCloseAnswer(_ socket: WebSocket) -> Bool { false }
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
    /// The client's Close, while the delegate holds the answer.
    private var heldClose: (code: WebSocketCloseCode?, reason: String)?

    init(exchange: any HTTPExchange, delegate: any WebSocketDelegate, limits: WebSocketDecoder.Limits) {
        self.exchange = exchange
        self.delegate = delegate
        decoder = WebSocketDecoder(role: .server, limits: limits)
    }

    /// The request that opened it (valid while the socket is open).
    public var request: HTTPRequestHead? { exchange?.request }

    /// Whether more can be sent without queueing past the high watermark.
    public var isWritable: Bool { exchange?.isWritable ?? false }

    /// Stops reading the client's frames (back-pressure: the protocol holds
    /// what it sends, bounded by the flow-control window or the socket)
    /// until `resumeReceiving`.
    public func pauseReceiving() { exchange?.pauseRequestBody() }
    public func resumeReceiving() { exchange?.resumeRequestBody() }

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
        if let held = heldClose {
            heldClose = nil
            report(code: held.code, reason: held.reason)
        }
    }

    /// Sends the answer to a client's Close the delegate held (see
    /// `WebSocketDelegate.webSocketHoldsCloseAnswer`), echoing its code;
    /// does nothing when no Close is held.
    public func answerClose() {
        guard let held = heldClose else { return }
        close(held.code ?? .normalClosure)
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
                } else if delegate?.webSocketHoldsCloseAnswer(self) == true {
                    heldClose = (code, reason)
                    continue
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

/// Serves WebSockets over HTTP/1.1 (RFC 6455 §4) and HTTP/2 (RFC 8441).
/// A WebSocket handshake is offered to `accept`, which returns the socket's
/// delegate (or nil: 404); any other request goes to `fallback` (404
/// without one).
///
/// - HTTP/1.1: a GET with `Upgrade: websocket`, `Connection: upgrade`, a
///   `Sec-WebSocket-Key` and `Sec-WebSocket-Version: 13` is answered 101
///   with `Sec-WebSocket-Accept`; the connection then carries frames both
///   ways and closes after the closing handshake (the server closes TCP
///   first, §7.1.1).
/// - HTTP/2: an extended CONNECT with `:protocol websocket` and
///   `sec-websocket-version: 13` is answered 200 with no
///   `sec-websocket-accept` (RFC 8441 §5: the stream is the proof); frames
///   go both ways on the stream, which ends after the closing handshake.
///   The server must advertise SETTINGS_ENABLE_CONNECT_PROTOCOL
///   (`Limits.enableConnectProtocol`).
///
/// Not served: subprotocols and extensions (none is negotiated, so
/// reserved bits stay 0).
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
    static func isExtendedConnect(_ request: HTTPRequestHead) -> Bool {
        guard request.methodIs("CONNECT"), let name = request.protocolBytes else { return false }
        return ASCII.equalIgnoringCase(name, "websocket")
    }

    /// RFC 6455 §4.2.1: "An |Upgrade| header field containing the value
    /// "websocket", treated as an ASCII case-insensitive value."
    static func asksForUpgrade(_ request: HTTPRequestHead) -> Bool {
        request.fields.listContains("upgrade", element: HTTPFieldList.span("websocket"))
    }

    public func exchangeDidStart(_ exchange: any HTTPExchange) {
        let request = exchange.request
        if Self.isExtendedConnect(request) {
            guard Self.checkVersion(exchange) else { return }
            guard let delegate = accept(request) else { return Self.respond(exchange, status: 404) }
            let socket = open(exchange, delegate)
            exchange.sendHead(status: 200, endOfStream: false)
            delegate.webSocketDidOpen(socket)
        } else if exchange.canSwitchProtocols && Self.asksForUpgrade(request) {
            // §4.2.1: "If the server, while reading the handshake, finds that
            // the client did not send a handshake that matches the description
            // below [...], the server MUST stop processing the client's
            // handshake and return an HTTP response with an appropriate error
            // code (such as 400 Bad Request)."
            guard request.methodIs("GET"),
                  request.fields.listContains("connection", element: HTTPFieldList.span("upgrade")) else {
                return Self.respond(exchange, status: 400)
            }
            guard Self.checkVersion(exchange) else { return }
            guard let key = request.fields.first("sec-websocket-key").map({ String(decoding: $0, as: UTF8.self) }),
                  WebSocketHandshake.isValidKey(key) else {
                return Self.respond(exchange, status: 400)
            }
            guard let delegate = accept(request) else { return Self.respond(exchange, status: 404) }
            let socket = open(exchange, delegate)
            // §4.2.2: the answer to a handshake the server accepts.
            exchange.responseFields.append("upgrade", "websocket")
            exchange.responseFields.append("sec-websocket-accept", WebSocketHandshake.accept(key: key))
            exchange.sendHead(status: 101, endOfStream: false)
            delegate.webSocketDidOpen(socket)
        } else if let fallback {
            fallback.exchangeDidStart(exchange)
        } else {
            Self.respond(exchange, status: 404)
        }
    }

    private func open(_ exchange: any HTTPExchange, _ delegate: any WebSocketDelegate) -> WebSocket {
        let socket = WebSocket(exchange: exchange, delegate: delegate, limits: limits)
        exchange.context = socket
        return socket
    }

    /// §4.2.2: "If this version does not match a version understood by the
    /// server, the server MUST abort the WebSocket handshake described in
    /// this section and instead send an appropriate HTTP error code (such
    /// as 426 Upgrade Required) and a |Sec-WebSocket-Version| header field
    /// indicating the version(s) the server is capable of understanding."
    /// (RFC 8441 §5 keeps the field; HTTP/2 has no Upgrade, so 400.)
    private static func checkVersion(_ exchange: any HTTPExchange) -> Bool {
        if let version = exchange.request.fields.first("sec-websocket-version"),
           version.elementsEqual(WebSocketHandshake.version.utf8) {
            return true
        }
        exchange.responseFields.append("sec-websocket-version", WebSocketHandshake.version)
        guard exchange.streamID == 0 else {
            respond(exchange, status: 400)
            return false
        }
        exchange.responseFields.append("upgrade", "websocket")
        respond(exchange, status: 426)
        return false
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
