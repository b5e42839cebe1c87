/// The receiving side of a WebSocket connection (RFC 6455 §5–§7), without
/// I/O: bytes in, messages and control frames out, or the violation that
/// fails the connection (with the close code to send).
///
/// It reassembles fragmented messages (§5.4), unmasks client frames and
/// refuses unmasked ones in the server role (§5.1), checks control frames
/// (§5.5), validates text as UTF-8 as it arrives (§8.1) and Close payloads
/// (§5.5.1, §7.4), and bounds frames and messages (1009, §7.4.1) before
/// their bytes are buffered.
public struct WebSocketDecoder: Sendable {
    public enum Role: Sendable {
        /// Receives client frames: each MUST be masked.
        case server
        /// Receives server frames: none may be masked.
        case client
    }

    /// Bounds on what a peer can make this side buffer.
    public struct Limits: Sendable {
        /// The largest frame payload accepted.
        public var maximumFrameSize: Int
        /// The largest message (all its fragments) accepted.
        public var maximumMessageSize: Int

        public init(maximumFrameSize: Int = 1 << 20, maximumMessageSize: Int = 1 << 20) {
            self.maximumFrameSize = maximumFrameSize
            self.maximumMessageSize = maximumMessageSize
        }
    }

    /// What the peer sent.
    public enum Event: Equatable, Sendable {
        case text(String)
        case binary([UInt8])
        case ping([UInt8])
        case pong([UInt8])
        /// A Close frame: its code (nil: none given, 1005 to the application)
        /// and reason.
        case close(WebSocketCloseCode?, String)
    }

    public let role: Role
    public let limits: Limits
    /// Bytes received and not yet decoded (at most one frame's worth).
    private var pending: [UInt8] = []
    /// The data message being reassembled, if a fragment of one arrived.
    private var messageOpcode: WebSocketOpcode?
    private var message: [UInt8] = []
    private var utf8 = UTF8Validator()
    /// Set once the connection failed or a Close arrived: nothing more is read.
    public private(set) var isFinished = false

    public init(role: Role, limits: Limits = Limits()) {
        self.role = role
        self.limits = limits
    }

    /// Decodes what `bytes` complete; returns the events in order, then
    /// the violation that fails the connection, if one was found.
    public mutating func receive(_ bytes: UnsafeRawBufferPointer) -> (events: [Event], violation: WebSocketViolation?) {
        guard !isFinished else { return ([], nil) }
        pending.append(contentsOf: bytes)
        var events: [Event] = []
        var consumed = 0
        defer { pending.removeFirst(consumed) }
        while !isFinished {
            let parse = pending.withUnsafeBytes { WebSocketFrameHeader.parse(UnsafeRawBufferPointer(rebasing: $0[consumed...])) }
            switch parse {
            case .needMore:
                return (events, nil)
            case .invalid(let violation):
                return fail(events, violation)
            case .header(let header, let headerLength):
                if let violation = check(header) { return fail(events, violation) }
                let length = Int(header.payloadLength)
                guard pending.count - consumed - headerLength >= length else { return (events, nil) }
                let start = consumed + headerLength
                if let mask = header.mask {
                    WebSocketMask.apply(mask, to: &pending, range: start..<start + length, offset: 0)
                }
                let payload = pending.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[start..<start + length]) }
                consumed = start + length
                switch handle(header, payload) {
                case .none: break
                case .event(let event): events.append(event)
                case .violation(let violation): return fail(events, violation)
                }
            }
        }
        return (events, nil)
    }

    private mutating func fail(_ events: [Event], _ violation: WebSocketViolation) -> ([Event], WebSocketViolation?) {
        isFinished = true
        return (events, violation)
    }

    /// The header's own rules, before its payload is waited for.
    private func check(_ header: WebSocketFrameHeader) -> WebSocketViolation? {
        // "MUST be 0 unless an extension is negotiated that defines meanings
        // for non-zero values" (§5.2)
        guard header.reserved == 0 else { return .reservedBitsSet }
        // "If an unknown opcode is received, the receiving endpoint MUST
        // _Fail the WebSocket Connection_" (§5.2)
        guard let opcode = WebSocketOpcode(rawValue: header.opcode) else { return .unknownOpcode }
        switch role {
        // "The server MUST close the connection upon receiving a frame that is not masked" (§5.1)
        case .server where header.mask == nil: return .unmaskedClientFrame
        // "A client MUST close a connection if it detects a masked frame" (§5.1)
        case .client where header.mask != nil: return .maskedServerFrame
        default: break
        }
        if opcode.isControl {
            // "All control frames MUST have a payload length of 125 bytes or
            // less and MUST NOT be fragmented." (§5.5)
            guard header.payloadLength <= 125 else { return .controlFrameTooLong }
            guard header.fin else { return .fragmentedControlFrame }
            return nil
        }
        guard header.payloadLength <= UInt64(limits.maximumFrameSize) else { return .frameTooLarge }
        if opcode == .continuation {
            guard messageOpcode != nil else { return .continuationWithoutMessage }
        } else if messageOpcode != nil {
            // "the fragments of one message MUST NOT be interleaved between
            // the fragments of another message" (§5.4)
            return .messageWhileFragmented
        }
        guard message.count + Int(header.payloadLength) <= limits.maximumMessageSize else { return .messageTooLarge }
        return nil
    }

    private enum Outcome {
        case none
        case event(Event)
        case violation(WebSocketViolation)
    }

    private mutating func handle(_ header: WebSocketFrameHeader, _ payload: UnsafeRawBufferPointer) -> Outcome {
        let opcode = WebSocketOpcode(rawValue: header.opcode)!
        switch opcode {
        case .ping: return .event(.ping(Array(payload)))
        case .pong: return .event(.pong(Array(payload)))
        case .close: return closeFrame(payload)
        case .text, .binary, .continuation:
            let kind = opcode == .continuation ? messageOpcode! : opcode
            if kind == .text {
                if opcode != .continuation { utf8 = UTF8Validator() }
                guard utf8.feed(payload) else { return .violation(.invalidUTF8) }
            }
            if !header.fin {
                messageOpcode = kind
                message.append(contentsOf: payload)
                return .none
            }
            var whole = message
            whole.append(contentsOf: payload)
            message.removeAll(keepingCapacity: true)
            messageOpcode = nil
            if kind == .text {
                guard utf8.isComplete else { return .violation(.invalidUTF8) }
                return .event(.text(String(decoding: whole, as: UTF8.self)))
            }
            return .event(.binary(whole))
        }
    }

    /// §5.5.1: an optional 2-byte code, then a UTF-8 reason.
    private mutating func closeFrame(_ payload: UnsafeRawBufferPointer) -> Outcome {
        isFinished = true
        if payload.isEmpty { return .event(.close(nil, "")) }
        guard payload.count >= 2 else { return .violation(.closeOneByte) }
        let code = WebSocketCloseCode(rawValue: UInt16(payload[0]) << 8 | UInt16(payload[1]))
        guard code.isSendable else { return .violation(.invalidCloseCode) }
        let reason = UnsafeRawBufferPointer(rebasing: payload[2...])
        var validator = UTF8Validator()
        guard validator.feed(reason), validator.isComplete else { return .violation(.invalidCloseReason) }
        return .event(.close(code, String(decoding: reason, as: UTF8.self)))
    }
}
