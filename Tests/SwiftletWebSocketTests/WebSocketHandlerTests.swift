import SwiftletHTTP
import SwiftletWebSocket
import Testing

/// An exchange that records what the handler does with it, standing in for
/// an HTTP/1.1 connection (stream 0) or an HTTP/2 stream.
final class RecordingExchange: HTTPExchange {
    let request = HTTPRequestHead()
    let responseFields = HTTPFieldList()
    var context: AnyObject?
    var protocolName: StaticString { streamID == 0 ? "http/1.1" : "h2" }
    let streamID: UInt32
    var remoteAddressDescription: String { "test" }
    var responseStatus = 0
    var responseBodyBytesSent = 0
    var startTime: UInt64 { 0 }
    var canSwitchProtocols: Bool { streamID == 0 && responseStatus == 0 }
    var isWritable: Bool { true }
    var queuedBodyBytes: Int { 0 }
    var priority = HTTPPriority.default

    /// The head's fields as sent, the body bytes, and whether the response ended.
    var sentFields: [String: String] = [:]
    var body: [UInt8] = []
    var ended = false
    var paused = false

    init(streamID: UInt32, _ pseudo: [(HTTPRequestHead.Pseudo, String)], _ fields: [(String, String)]) {
        self.streamID = streamID
        for (which, value) in pseudo { Array(value.utf8).withUnsafeBytes { request.setPseudo(which, $0) } }
        for (name, value) in fields { request.fields.append(name: name, value: value) }
    }

    func pauseRequestBody() { paused = true }
    func resumeRequestBody() { paused = false }
    func sendHead(status: Int, endOfStream: Bool) {
        responseStatus = status
        for (name, value) in responseFields.strings { sentFields[name] = value }
        ended = endOfStream
    }
    func sendBody(copying bytes: UnsafeRawBufferPointer, endOfStream: Bool) {
        body += bytes
        ended = ended || endOfStream
    }
    func sendBody(borrowing bytes: UnsafeRawBufferPointer, owner: AnyObject?, release: (() -> Void)?, endOfStream: Bool) {
        sendBody(copying: bytes, endOfStream: endOfStream)
        release?()
    }
    func sendBody(from source: any HTTPBodySource) {}
    func bodySourceDidBecomeReady() {}
    func finish(trailers: HTTPFieldList?) { ended = true }
    func cancel() { ended = true }

    /// The server's frames in `body`, as (opcode, payload).
    var frames: [(UInt8, [UInt8])] {
        var decoder = WebSocketDecoder(role: .client, limits: .init())
        var result: [(UInt8, [UInt8])] = []
        let (events, _) = body.withUnsafeBytes { decoder.receive($0) }
        for event in events {
            switch event {
            case .text(let text): result.append((0x1, Array(text.utf8)))
            case .binary(let bytes): result.append((0x2, bytes))
            case .ping(let bytes): result.append((0x9, bytes))
            case .pong(let bytes): result.append((0xA, bytes))
            case .close(let code, _): result.append((0x8, code.map { [UInt8($0.rawValue >> 8), UInt8($0.rawValue & 0xFF)] } ?? []))
            }
        }
        return result
    }
}

/// A delegate that answers every message, or only records it and answers
/// later (as an async handler does, in a turn of its own).
final class Answering: WebSocketDelegate {
    var holdsClose = false
    weak var socket: WebSocket?
    var received: [WebSocketMessage] = []
    var closed: WebSocketCloseCode?? = .none

    func webSocketDidOpen(_ socket: WebSocket) { self.socket = socket }
    func webSocket(_ socket: WebSocket, didReceive message: WebSocketMessage) {
        received.append(message)
        if !holdsClose { socket.send(message) }
    }
    func webSocketHoldsCloseAnswer(_ socket: WebSocket) -> Bool { holdsClose }
    func webSocketDidClose(_ socket: WebSocket, code: WebSocketCloseCode?, reason: String) { closed = .some(code) }
}

@Suite("WebSocketHandler: the opening handshakes (RFC 6455 §4, RFC 8441 §4–§5) and the closing one (§7)")
struct WebSocketHandlerTests {
    static func upgrade(_ fields: [(String, String)] = [], drop: String? = nil, method: String = "GET") -> RecordingExchange {
        var all = [("host", "example.com"), ("upgrade", "websocket"), ("connection", "Upgrade"),
                   ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="), ("sec-websocket-version", "13")]
        all.removeAll { $0.0 == drop || fields.map(\.0).contains($0.0) }
        return RecordingExchange(streamID: 0, [(.method, method), (.scheme, "http"), (.path, "/chat")], all + fields)
    }

    static func connect(version: String = "13") -> RecordingExchange {
        RecordingExchange(streamID: 1, [(.method, "CONNECT"), (.protocol, "websocket"), (.scheme, "https"), (.path, "/chat"),
                                        (.authority, "example.com")], [("sec-websocket-version", version)])
    }

    static func receive(_ exchange: RecordingExchange, by handler: WebSocketHandler, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { handler.exchange(exchange, didReceiveBody: $0) }
    }

    @Test("HTTP/1.1: 101 with §1.3's example accept value; HTTP/2: 200 without one")
    func accepted() {
        let delegate = Answering()
        let handler = WebSocketHandler { _ in delegate }
        let upgrade = Self.upgrade()
        handler.exchangeDidStart(upgrade)
        #expect(upgrade.responseStatus == 101 && !upgrade.ended)
        #expect(upgrade.sentFields == ["upgrade": "websocket", "sec-websocket-accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="])
        let connect = Self.connect()
        handler.exchangeDidStart(connect)
        #expect(connect.responseStatus == 200 && !connect.ended && connect.sentFields.isEmpty)
    }

    static func badHandshake(_ name: String) -> RecordingExchange {
        switch name {
        case "no key": upgrade(drop: "sec-websocket-key")
        case "short key": upgrade([("sec-websocket-key", "c2hvcnQ=")])
        case "no upgrade option": upgrade([("connection", "keep-alive")])
        case "POST": upgrade(method: "POST")
        case "version 8": upgrade([("sec-websocket-version", "8")])
        default: connect(version: "8")
        }
    }

    @Test("§4.2.1: a handshake that does not match gets 400; §4.2.2: another version gets 426 naming 13 (400 over HTTP/2)",
          arguments: [
              ("no key", 400, [:]),
              ("short key", 400, [:]),
              ("no upgrade option", 400, [:]),
              ("POST", 400, [:]),
              ("version 8", 426, ["sec-websocket-version": "13", "upgrade": "websocket"]),
              ("CONNECT version 8", 400, ["sec-websocket-version": "13"]),
          ])
    func refused(handshake: String, status: Int, fields: [String: String]) {
        let exchange = Self.badHandshake(handshake)
        let handler = WebSocketHandler { _ in Answering() }
        handler.exchangeDidStart(exchange)
        #expect(exchange.responseStatus == status && exchange.ended)
        #expect(exchange.sentFields.filter { $0.key != "content-length" } == fields)
    }

    @Test("a handshake the application declines gets 404, and so does any other request without a fallback")
    func declinedAndOthers() {
        let handler = WebSocketHandler { _ in nil }
        let upgrade = Self.upgrade()
        handler.exchangeDidStart(upgrade)
        #expect(upgrade.responseStatus == 404)
        let plain = RecordingExchange(streamID: 0, [(.method, "GET"), (.scheme, "http"), (.path, "/")], [("host", "a")])
        handler.exchangeDidStart(plain)
        #expect(plain.responseStatus == 404, "no fallback: 404")
    }

    @Test("§5.5.1: the client's Close is answered with its code and the stream ends; a message before it is answered first")
    func closingHandshake() {
        let delegate = Answering()
        let handler = WebSocketHandler { _ in delegate }
        let exchange = Self.upgrade()
        handler.exchangeDidStart(exchange)
        Self.receive(exchange, by: handler, clientFrame(0x1, Array("hi".utf8)) + clientFrame(0x8, [0x03, 0xE8]))
        #expect(exchange.frames.map(\.0) == [0x1, 0x8] && exchange.frames[1].1 == [0x03, 0xE8])
        #expect(exchange.ended && delegate.closed == .some(.normalClosure))
    }

    @Test("§5.5.1: a delegate that answers later holds the Close answer until answerClose(); its reply goes out first")
    func heldClose() {
        let delegate = Answering()
        delegate.holdsClose = true
        let handler = WebSocketHandler { _ in delegate }
        let exchange = Self.upgrade()
        handler.exchangeDidStart(exchange)
        Self.receive(exchange, by: handler, clientFrame(0x2, [1, 2, 3]) + clientFrame(0x8, [0x03, 0xE9]))
        #expect(exchange.body.isEmpty && !exchange.ended && delegate.closed == .none, "nothing sent yet")
        #expect(delegate.received == [.binary([1, 2, 3])])
        delegate.socket?.send(.binary([1, 2, 3]))   // the reply, a turn later
        delegate.socket?.answerClose()
        #expect(exchange.frames.map(\.0) == [0x2, 0x8] && exchange.frames[1].1 == [0x03, 0xE9])
        #expect(exchange.ended && delegate.closed == .some(.goingAway))
    }
}
