import Logging
import SwiftletHTTP
import SwiftletLoop

/// Limits and timeouts of HTTP/1.1 connections.
public struct HTTP1Configuration: Sendable {
    /// Largest request head (request line and fields): 431 beyond.
    public var maxHeadSize = 64 * 1024
    /// Fields per request head: 431 beyond.
    public var maxFields = 256
    /// A request head must arrive completely within this (slowloris).
    public var headTimeout: Duration = .seconds(10)
    /// A kept-alive connection with no request closes after this.
    public var idleTimeout: Duration = .seconds(60)
    /// Pending output without progress this long closes the connection.
    public var writeTimeout: Duration = .seconds(60)
    /// Bytes a pulled body may queue before the source is asked again.
    public var outputBudget = 256 * 1024
    /// "http" or "https": the scheme requests are given.
    public var scheme: StaticString = "http"

    public init() {}
}

/// Rejections of HTTP/1.1 requests and connection events, by token (loop-confined).
public final class HTTP1Counters {
    var counts = RejectionCounts()
    public var rejections: [String: Int] { counts.rejections }
    /// Timeouts (`h1_write_timeout`), counted apart from rejections.
    public var events: [String: Int] { counts.events }
    public init() {}
}

/// The server side of one HTTP/1.1 connection (RFC 9112), serving one
/// exchange at a time through the same `HTTPHandler` API as HTTP/2. The
/// connection object is the exchange and is reused for each request.
///
/// Request bodies (Content-Length or chunked) reach the handler in place;
/// responses are framed by the handler's `content-length` if given, else
/// chunked (close-delimited for HTTP/1.0 clients). Pipelined requests wait
/// in the receive ring until the response before them is complete.
///
/// A request that asks to upgrade (RFC 9110 §7.8, a WebSocket handshake,
/// say) may be answered with 101 from `exchangeDidStart`; the connection
/// then carries the new protocol as the exchange's byte stream both ways
/// (see `switchProtocols`).
public final class HTTP1Connection: ConnectionHandler, ServedConnection {
    enum Phase: Equatable {
        case awaitingHead
        case readingBody
        case awaitingResponse
        /// After a 101: the connection is a byte stream both ways, the
        /// exchange open until the handler finishes it.
        case tunnel
        case closed
    }

    let connection: Connection
    let loop: EventLoop
    let handler: any HTTPHandler
    let configuration: HTTP1Configuration
    let counters: HTTP1Counters
    var logger: Logger

    var phase: Phase = .awaitingHead
    let request = HTTPRequestHead()
    let responseFields = HTTPFieldList()
    var contextStorage: AnyObject?
    /// The handler's handle on the current request (see `HTTP1Exchange`).
    var exchange: HTTP1Exchange!
    var head: HTTP1Parser.Head?
    var exchangeOpen = false

    // Request body.
    var framing: HTTP1Parser.BodyFraming = .none
    var lengthRemaining = 0
    enum ChunkState { case size, data(Int), dataEnd, trailers }
    var chunkState: ChunkState = .size
    var requestComplete = false
    /// The handler heard `didFinishRequest` for this exchange.
    var requestEndDelivered = false
    var bodyPaused = false
    /// The request asked for `100 Continue` (RFC 9110 §10.1.1) and has not had it.
    var continuePending = false
    /// Where response heads are built (kept, so a response allocates none).
    private var headBuffer: [UInt8] = []
    let requestTrailers = HTTPFieldList(byteCapacity: 256, fieldCapacity: 4)

    // Response.
    var responseStarted = false
    var responseEnded = false
    var responseChunked = false
    var isHeadRequest = false
    var closeAfterResponse = false
    var bodySource: (any HTTPBodySource)?
    var sourceWaiting = false
    var status = 0
    var bodyBytes = 0
    var started: UInt64 = 0
    var responsePriority = HTTPPriority.default

    // Timers.
    enum Timer: UInt64, CaseIterable { case idle = 1, head, write }
    var timers = ConnectionTimers<Timer>()
    var writeWatchdog: WriteWatchdog
    var closeObserver: ((any ServedConnection) -> Void)?

    /// Runs once when the connection closes (servers use it to forget it).
    public var onClose: ((any ServedConnection) -> Void)? {
        get { closeObserver }
        set { closeObserver = newValue }
    }

    public func shutDownGracefully() { closeWhenIdle() }

    /// Graceful shutdown: finish the exchange in progress, then close.
    public func closeWhenIdle() {
        if exchangeOpen {
            closeAfterResponse = true
        } else if phase != .closed {
            phase = .closed
            connection.close()
        }
    }

    init(connection: Connection, handler: any HTTPHandler, configuration: HTTP1Configuration, counters: HTTP1Counters, logger: Logger) {
        self.connection = connection
        loop = connection.loop
        self.handler = handler
        self.configuration = configuration
        self.counters = counters
        self.logger = logger
        writeWatchdog = WriteWatchdog(timeout: configuration.writeTimeout)
        exchange = HTTP1Exchange(connection: self)
    }

    /// Serves `connection` as HTTP/1.1 (its input may already hold a request).
    @discardableResult
    public static func start(on connection: Connection, handler: any HTTPHandler,
                             configuration: HTTP1Configuration = HTTP1Configuration(),
                             counters: HTTP1Counters = HTTP1Counters(),
                             logger: Logger = Logger(label: "swiftlet.http1")) -> HTTP1Connection {
        let http1 = HTTP1Connection(connection: connection, handler: handler, configuration: configuration, counters: counters, logger: logger)
        connection.handler = http1
        // Pulled bodies are produced while output is below the budget; the
        // writability callback resumes them once it drained to a quarter.
        connection.writeHighWatermark = configuration.outputBudget
        connection.writeLowWatermark = configuration.outputBudget / 4
        http1.schedule(.idle, after: configuration.idleTimeout)
        return http1
    }

    // MARK: what the exchange does (HTTP1Exchange forwards here)

    /// Stops body delivery and reading the socket (the receive ring would
    /// otherwise fill with body the handler does not want yet).
    func pauseRequestBody() {
        bodyPaused = true
        if phase == .readingBody || phase == .tunnel { connection.pauseReading() }
    }

    func resumeRequestBody() {
        guard bodyPaused else { return }
        bodyPaused = false
        sendContinueIfPending()
        guard phase == .readingBody || phase == .tunnel else { return }  // pipelined bytes wait for the response
        // Body bytes that arrived before the pause are in the ring already:
        // they are delivered again rather than waiting for more to arrive
        // (which may never come).
        if connection.isReadingPaused {
            connection.resumeReading()
        } else {
            connection.redeliverInput()
        }
    }

    /// RFC 9110 §10.1.1: "A server that receives a 100-continue expectation
    /// in an HTTP/1.1 request [...] MAY omit sending a 100 (Continue)
    /// response if it has already received some or all of the content [...]
    /// or if [...] it responds with a final status code." So the 100 goes
    /// out only once the handler wants the body: when `exchangeDidStart`
    /// returns without pausing it or answering, or when it resumes a paused
    /// body. A handler that answers 401 or 413 first never invites it.
    private func sendContinueIfPending() {
        guard continuePending else { return }
        continuePending = false
        connection.write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
    }

    // MARK: input

    public func connectionDidReceive(_ connection: Connection) {
        while phase != .closed {
            let input = connection.input
            switch phase {
            case .awaitingHead:
                guard input.count > 0 else { return }
                if !timers.isPending(.head) {
                    cancel(.idle)
                    schedule(.head, after: configuration.headTimeout)
                }
                let parsed: HTTP1Parser.Head?
                do {
                    parsed = try HTTP1Parser.parse(input, into: request, maximumSize: configuration.maxHeadSize,
                                                   maximumFields: configuration.maxFields, scheme: configuration.scheme)
                } catch {
                    reject(error)
                    return
                }
                guard let head = parsed else { return }
                cancel(.head)
                connection.consume(head.length)
                beginExchange(head)
            case .readingBody:
                guard !bodyPaused, input.count > 0 else { return }
                guard readBody(input) else { return }
            case .awaitingResponse:
                // Pipelined bytes wait in the ring until this response is done.
                connection.pauseReading()
                return
            case .tunnel:
                guard !bodyPaused, input.count > 0 else { return }
                deliver(input)
                guard phase != .closed else { return }
                connection.consume(input.count)
                return
            case .closed:
                return
            }
        }
    }

    private func beginExchange(_ head: HTTP1Parser.Head) {
        self.head = head
        exchangeOpen = true
        // Release builds reuse the handle; debug builds give each request a
        // new one, so a handle kept from the last request is caught.
        if HTTP1Exchange.recycles {
            exchange.closed = false
        } else {
            exchange = HTTP1Exchange(connection: self)
        }
        framing = head.framing
        requestComplete = false
        requestEndDelivered = false
        requestTrailers.removeAll()
        switch head.framing {
        case .none: requestComplete = true
        case .length(let length): lengthRemaining = length
        case .chunked: chunkState = .size
        }
        responseStarted = false
        responseEnded = false
        responseChunked = false
        closeAfterResponse = !head.keepAlive
        isHeadRequest = request.methodIs("HEAD")
        bodySource = nil
        sourceWaiting = false
        status = 0
        bodyBytes = 0
        started = loop.now
        responseFields.removeAll()
        contextStorage = nil
        bodyPaused = false
        phase = requestComplete ? .awaitingResponse : .readingBody
        continuePending = head.expectsContinue && !requestComplete
        handler.exchangeDidStart(exchange)
        if !bodyPaused && !responseStarted && phase != .closed { sendContinueIfPending() }
        if requestComplete && phase != .closed { deliverRequestEnd() }
    }

    /// Decodes body bytes; returns whether the loop should continue parsing.
    private func readBody(_ input: UnsafeRawBufferPointer) -> Bool {
        switch framing {
        case .none:
            return true
        case .length:
            let take = min(input.count, lengthRemaining)
            deliver(UnsafeRawBufferPointer(rebasing: input[0..<take]))
            guard phase != .closed else { return false }
            connection.consume(take)
            lengthRemaining -= take
            if lengthRemaining == 0 { finishBody() }
            return lengthRemaining == 0
        case .chunked:
            return readChunked(input)
        }
    }

    private func readChunked(_ input: UnsafeRawBufferPointer) -> Bool {
        switch chunkState {
        case .size:
            // chunk-size [ chunk-ext ] CRLF (RFC 9112 §7.1)
            guard let lineEnd = input.firstIndex(of: 0x0A) else {
                if input.count > 1024 { reject(HTTP1Rejection(status: 400, token: "h1_bad_chunk", reason: "chunk size line too long")) }
                return false
            }
            var size = 0
            var digits = 0
            for byte in input[0..<lineEnd] {
                guard let digit = Self.hexValue(byte) else { break }
                guard digits < 15 else {
                    reject(HTTP1Rejection(status: 400, token: "h1_bad_chunk", reason: "chunk size too large"))
                    return false
                }
                size = size * 16 + digit
                digits += 1
            }
            guard digits > 0 else {
                reject(HTTP1Rejection(status: 400, token: "h1_bad_chunk", reason: "invalid chunk size"))
                return false
            }
            connection.consume(lineEnd + 1)
            chunkState = size == 0 ? .trailers : .data(size)
            return true
        case .data(let remaining):
            let take = min(input.count, remaining)
            deliver(UnsafeRawBufferPointer(rebasing: input[0..<take]))
            guard phase != .closed else { return false }
            connection.consume(take)
            chunkState = take == remaining ? .dataEnd : .data(remaining - take)
            return true
        case .dataEnd:
            guard input.count >= 1 else { return false }
            if input[0] == 0x0A {
                connection.consume(1)
            } else {
                guard input.count >= 2 else { return false }
                guard input[0] == 0x0D && input[1] == 0x0A else {
                    reject(HTTP1Rejection(status: 400, token: "h1_bad_chunk", reason: "chunk data not followed by CRLF"))
                    return false
                }
                connection.consume(2)
            }
            chunkState = .size
            return true
        case .trailers:
            guard let lineEnd = input.firstIndex(of: 0x0A) else {
                if input.count > configuration.maxHeadSize {
                    reject(HTTP1Rejection(status: 431, token: "h1_trailers_too_large", reason: "trailer section too large"))
                }
                return false
            }
            let line = UnsafeRawBufferPointer(rebasing: input[0..<(lineEnd > 0 && input[lineEnd - 1] == 0x0D ? lineEnd - 1 : lineEnd)])
            connection.consume(lineEnd + 1)
            if line.count == 0 {
                finishBody()
                return true
            }
            if let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 {
                var lowered = [UInt8](line[0..<colon])
                for index in lowered.indices where lowered[index] >= 0x41 && lowered[index] <= 0x5A { lowered[index] += 0x20 }
                var start = colon + 1
                while start < line.count && (line[start] == 0x20 || line[start] == 0x09) { start += 1 }
                lowered.withUnsafeBytes { requestTrailers.append(name: $0, value: UnsafeRawBufferPointer(rebasing: line[start...])) }
            }
            return true
        }
    }

    private func deliver(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        handler.exchange(exchange, didReceiveBody: bytes)
    }

    private func finishBody() {
        requestComplete = true
        phase = .awaitingResponse
        deliverRequestEnd()
    }

    private func deliverRequestEnd() {
        // A handler that answered inside `exchangeDidStart` has already been
        // told the exchange closed; nothing may follow that.
        guard exchangeOpen else { return }
        requestEndDelivered = true
        handler.exchange(exchange, didFinishRequestWith: requestTrailers.isEmpty ? nil : requestTrailers)
        if responseEnded { completeExchange() }
    }

    static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 0x30...0x39: Int(byte - 0x30)
        case 0x61...0x66: Int(byte - 0x61 + 10)
        case 0x41...0x46: Int(byte - 0x41 + 10)
        default: nil
        }
    }

    // MARK: output

    func sendHead(status: Int, endOfStream: Bool) {
        guard exchangeOpen, !responseStarted, phase != .closed else { return }
        let status = HTTPStatus.checked(status)
        if status == 101, let refusal = switchProtocolsRefusal() {
            logger.error("a handler's 101 answered with 500 instead: \(refusal)")
            responseFields.removeAll()
            return sendHead(status: 500, endOfStream: true)
        }
        let informational = status >= 100 && status < 200 && status != 101
        // RFC 9110 §15.2: "A server MUST NOT send a 1xx response to an
        // HTTP/1.0 client."
        if informational && self.head?.http10 == true {
            responseFields.removeAll()
            return
        }
        // The head is built in a buffer kept from response to response.
        var head = headBuffer
        headBuffer = []
        defer {
            head.removeAll(keepingCapacity: true)
            headBuffer = head
        }
        head.append(contentsOf: "HTTP/1.1 ".utf8)
        head.append(UInt8(ascii: "0") + UInt8(status / 100 % 10))
        head.append(UInt8(ascii: "0") + UInt8(status / 10 % 10))
        head.append(UInt8(ascii: "0") + UInt8(status % 10))
        head.append(0x20)
        head.append(contentsOf: Self.reasonPhrase(status).utf8)
        head.append(contentsOf: "\r\n".utf8)
        var hasLength = false
        var listsUpgrade = false
        for index in 0..<responseFields.count {
            let field = responseFields[index]
            // The connection decides these (RFC 9110 §7.6.1); a handler's are
            // dropped, but for the upgrade field of a 426: "A server that
            // sends a 426 (Upgrade Required) response MUST send an Upgrade
            // header field to indicate the acceptable protocols." (§7.8; a
            // 101's is written by `switchProtocols`.)
            if HTTPFieldList.isConnectionSpecific(field.name) {
                guard status == 426, HTTPFieldList.equal(field.name, HTTPFieldList.span("upgrade")) else { continue }
                listsUpgrade = true
            }
            if HTTPFieldList.equal(field.name, HTTPFieldList.span("content-length")) { hasLength = true }
            head.append(contentsOf: field.name)
            head.append(contentsOf: ": ".utf8)
            head.append(contentsOf: field.value)
            head.append(contentsOf: "\r\n".utf8)
        }
        if informational {
            head.append(contentsOf: "\r\n".utf8)
            connection.write(head)
            responseFields.removeAll()
            return
        }
        if status == 101 {
            switchProtocols(head: &head)
            return
        }
        responseStarted = true
        continuePending = false  // a final answer instead of 100 (§10.1.1)
        self.status = status
        let bodyForbidden = isHeadRequest || status == 204 || status == 304
        if !bodyForbidden && !hasLength {
            if endOfStream {
                head.append(contentsOf: "content-length: 0\r\n".utf8)
            } else if self.head?.http10 == true {
                closeAfterResponse = true  // close-delimited body
            } else {
                responseChunked = true
                head.append(contentsOf: "transfer-encoding: chunked\r\n".utf8)
            }
        }
        // An unread request body cannot be skipped safely: close afterwards.
        if !requestComplete && endOfStream { closeAfterResponse = true }
        // §7.8: "When Upgrade is sent, the sender MUST also send a Connection
        // header field [...] that contains an "upgrade" connection option".
        if closeAfterResponse {
            head.append(contentsOf: (listsUpgrade ? "connection: upgrade, close\r\n" : "connection: close\r\n").utf8)
        } else if self.head?.http10 == true {
            head.append(contentsOf: (listsUpgrade ? "connection: upgrade, keep-alive\r\n" : "connection: keep-alive\r\n").utf8)
        } else if listsUpgrade {
            head.append(contentsOf: "connection: upgrade\r\n".utf8)
        }
        head.append(contentsOf: "\r\n".utf8)
        connection.write(head)
        if endOfStream || bodyForbidden && endOfStream { endResponse() }
    }

    func sendBody(copying bytes: UnsafeRawBufferPointer, endOfStream: Bool) {
        guard canSendBody else { return }
        if !isHeadRequest && bytes.count > 0 {
            writeChunkHeader(bytes.count)
            connection.write(bytes)
            writeChunkEnd()
            bodyBytes += bytes.count
        }
        if phase == .tunnel { armWriteTimer() }
        if endOfStream { finish(trailers: nil) }
    }

    func sendBody(borrowing bytes: UnsafeRawBufferPointer, owner: AnyObject?, release: (() -> Void)?, endOfStream: Bool) {
        guard canSendBody else {
            release?()
            return
        }
        if !isHeadRequest && bytes.count > 0 {
            writeChunkHeader(bytes.count)
            connection.write(borrowing: bytes, owner: owner, release: release)
            writeChunkEnd()
            bodyBytes += bytes.count
        } else {
            release?()
        }
        if phase == .tunnel { armWriteTimer() }
        if endOfStream { finish(trailers: nil) }
    }

    func sendBody(from source: any HTTPBodySource) {
        guard canSendBody else { return }
        bodySource = source
        sourceWaiting = false
        connection.requestWillFlush()
    }

    func bodySourceDidBecomeReady() {
        guard bodySource != nil, sourceWaiting else { return }
        sourceWaiting = false
        connection.requestWillFlush()
    }

    public func connectionWillFlush(_ connection: Connection) {
        // While writable, pull; once output exceeds the budget the connection
        // turns unwritable and `connectionWritabilityDidChange` resumes us.
        guard let source = bodySource, !sourceWaiting, canSendBody, connection.isWritable else { return }
        let before = bodyBytes
        source.exchange(exchange, wantsBodyUpTo: configuration.outputBudget)
        guard bodySource != nil, canSendBody else { return }
        if bodyBytes == before {
            sourceWaiting = true
        } else if connection.isWritable {
            connection.requestWillFlush()
        }
    }

    func finish(trailers: HTTPFieldList?) {
        guard canSendBody else { return }
        bodySource = nil
        if responseChunked {
            var tail = Array("0\r\n".utf8)
            if let trailers {
                for index in 0..<trailers.count {
                    let field = trailers[index]
                    tail.append(contentsOf: field.name)
                    tail.append(contentsOf: ": ".utf8)
                    tail.append(contentsOf: field.value)
                    tail.append(contentsOf: "\r\n".utf8)
                }
            }
            tail.append(contentsOf: "\r\n".utf8)
            connection.write(tail)
        }
        endResponse()
    }

    func cancel() {
        closeNow(reason: .reset(errorCode: 0))
    }

    /// See `HTTPExchange.canSwitchProtocols`.
    var canSwitchProtocols: Bool {
        head?.http10 == false && phase == .awaitingResponse && !responseStarted && requestComplete && !requestEndDelivered
    }

    /// Why a handler's 101 cannot be sent, or nil if it can.
    private func switchProtocolsRefusal() -> String? {
        guard canSwitchProtocols else {
            return "a 101 answers an HTTP/1.1 request without a body, from exchangeDidStart"
        }
        guard head?.upgrade == true else { return "the request did not ask to upgrade (Upgrade and Connection: upgrade)" }
        // §7.8: "A server that sends a 101 (Switching Protocols) response MUST
        // send an Upgrade header field to indicate the new protocol(s) to
        // which the connection is being switched" and "MUST NOT switch to a
        // protocol that was not indicated by the client in the corresponding
        // request's Upgrade header field."
        guard let chosen = responseFields.first("upgrade") else { return "the 101 has no upgrade field" }
        var protocols = 0
        var offered = true
        ASCII.forEachListElement(chosen) { name in
            protocols += 1
            if !request.fields.listContains("upgrade", element: name) { offered = false }
        }
        guard protocols > 0, offered else { return "the 101's upgrade field names a protocol the request did not offer" }
        return nil
    }

    /// RFC 9110 §15.2.2: "the server understands and is willing to comply
    /// with the client's request, via the Upgrade header field, for a change
    /// in the application protocol being used on this connection"; the new
    /// protocol starts right after the 101's empty line (§7.8). `head` holds
    /// the status line and the handler's own fields; the upgrade and
    /// connection fields are the connection's to write.
    ///
    /// From here the exchange is a byte stream both ways: the peer's bytes
    /// (those already read after the request head first) arrive as request
    /// body and its FIN as the request's end; response body goes out as it
    /// is; `finish` closes the connection once its output is written.
    private func switchProtocols(head: inout [UInt8]) {
        if let chosen = responseFields.first("upgrade") {
            head.append(contentsOf: "upgrade: ".utf8)
            head.append(contentsOf: chosen)
            head.append(contentsOf: "\r\n".utf8)
        }
        head.append(contentsOf: "connection: upgrade\r\n\r\n".utf8)
        connection.write(head)
        responseStarted = true
        continuePending = false
        status = 101
        phase = .tunnel
        requestComplete = false  // now it ends with the peer's FIN
        closeAfterResponse = true
    }

    private var canSendBody: Bool { exchangeOpen && responseStarted && !responseEnded && phase != .closed }

    /// The chunk size line (RFC 9112 §7.1): the length in hex, then CRLF.
    private func writeChunkHeader(_ length: Int) {
        guard responseChunked else { return }
        var line: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: 16 hex digits and CRLF fit
        withUnsafeMutableBytes(of: &line) { buffer in
            var position = buffer.count - 2
            buffer[position] = 0x0D
            buffer[position + 1] = 0x0A
            var rest = UInt(length)
            repeat {
                position -= 1
                buffer[position] = Self.hexDigits[Int(rest & 15)]
                rest >>= 4
            } while rest > 0
            connection.write(UnsafeRawBufferPointer(rebasing: buffer[position...]))
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private func writeChunkEnd() {
        if responseChunked { connection.write(HTTPFieldList.span("\r\n")) }
    }

    private func endResponse() {
        responseEnded = true
        if requestComplete || closeAfterResponse { completeExchange() }
    }

    /// The exchange is over: tell the handler, then close or await the next request.
    private func completeExchange() {
        guard exchangeOpen else { return }
        closeExchange(reason: .completed)
        contextStorage = nil
        armWriteTimer()
        if closeAfterResponse || !(head?.keepAlive ?? false) {
            phase = .closed
            connection.close()
            return
        }
        phase = .awaitingHead
        schedule(.idle, after: configuration.idleTimeout)
        connection.resumeReading()
    }

    private func reject(_ error: HTTP1Rejection) {
        counters.counts.reject(error.token)
        logger.debug("HTTP/1.1 request rejected: \(error.token): \(error.reason)")
        guard !responseStarted || !exchangeOpen else {
            closeNow(reason: .reset(errorCode: 0))
            return
        }
        let body = "\(error.status) \(Self.reasonPhrase(error.status))\n"
        let response = "HTTP/1.1 \(error.status) \(Self.reasonPhrase(error.status))\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: \(body.utf8.count)\r\nconnection: close\r\n\r\n\(body)"
        connection.write(Array(response.utf8))
        if exchangeOpen { closeExchange(reason: .reset(errorCode: 0)) }
        phase = .closed
        connection.close()
        armWriteTimer()
    }

    /// The handler is done with the exchange: it hears so once, and its
    /// handle stops working (`HTTP1Exchange.isUsable`).
    private func closeExchange(reason: HTTPExchangeCloseReason) {
        exchangeOpen = false
        exchange.closed = true
        handler.exchangeDidClose(exchange, reason: reason)
    }

    private func closeNow(reason: HTTPExchangeCloseReason) {
        guard phase != .closed else { return }
        phase = .closed
        if exchangeOpen { closeExchange(reason: reason) }
        connection.close(.immediately)
    }

    // MARK: connection events

    public func connectionWritabilityDidChange(_ connection: Connection) {
        guard connection.isWritable, exchangeOpen else { return }
        handler.exchangeDidBecomeWritable(exchange)
        if bodySource != nil { connection.requestWillFlush() }
    }

    public func connectionDidReceiveEOF(_ connection: Connection) {
        if phase == .tunnel {
            requestComplete = true
            deliverRequestEnd()  // and the exchange completes if the response ended
            return
        }
        if exchangeOpen && !requestComplete {
            closeNow(reason: .connectionClosed)
            return
        }
        if !exchangeOpen {
            phase = .closed
            connection.close()
        } else {
            closeAfterResponse = true  // answer the request in progress, then close
        }
    }

    public func connectionDidClose(_ connection: Connection, reason: CloseReason) {
        phase = .closed
        if exchangeOpen { closeExchange(reason: .connectionClosed) }
        for timer in Timer.allCases { cancel(timer) }
        let observer = closeObserver
        closeObserver = nil
        observer?(self)
    }

    // MARK: timers

    /// Schedules `timer` (replacing a pending one); the wheel is called
    /// outside every access to `timers` (see `ConnectionTimers`).
    private func schedule(_ timer: Timer, at deadline: UInt64) {
        let id = loop.timers.schedule(at: deadline, target: self, tag: timer.rawValue)
        if let old = timers.set(timer, id) { loop.timers.cancel(old) }
    }

    private func schedule(_ timer: Timer, after delay: Duration) {
        schedule(timer, at: loop.now &+ delay.nanoseconds)
    }

    private func cancel(_ timer: Timer) {
        if let id = timers.take(timer) { loop.timers.cancel(id) }
    }

    /// Checks that pending output moves (`WriteWatchdog`).
    private func armWriteTimer() {
        guard !connection.isClosed,
              let deadline = writeWatchdog.arm(pendingBytes: connection.pendingOutputBytes, bytesSent: connection.bytesSent,
                                               now: loop.now) else { return }
        schedule(.write, at: deadline)
    }

    // MARK: helpers

    /// Fields the connection owns (framing), dropped from handler fields.
    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 103: "Early Hints"  // RFC 8297
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 206: "Partial Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 416: "Range Not Satisfiable"
        case 426: "Upgrade Required"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status"
        }
    }
}

extension HTTP1Connection: TimerTarget {
    public func timerFired(_ id: TimerID, tag: UInt64) {
        switch timers.fired(id, tag: tag) {
        case .idle:
            if phase == .awaitingHead && !exchangeOpen {
                phase = .closed
                connection.close()
            }
        case .head:
            if phase == .awaitingHead {
                reject(HTTP1Rejection(status: 408, token: "h1_head_timeout", reason: "request head not received in time"))
            }
        case .write:
            guard !connection.isClosed else { return writeWatchdog.disarm() }
            switch writeWatchdog.check(pendingBytes: connection.pendingOutputBytes, bytesSent: connection.bytesSent, now: loop.now) {
            case .drained:
                break
            case .checkAgain(let deadline):
                schedule(.write, at: deadline)
            case .stalled:
                counters.counts.record("h1_write_timeout")
                closeNow(reason: .connectionClosed)
                connection.close(.reset)
            }
        case nil:
            break
        }
    }
}
