/// Frames to send (RFC 6455 §5): a server's are never masked, a client's
/// always are (with a fresh key per frame, §5.3).
public enum WebSocketEncoder {
    /// Appends one frame carrying `payload`.
    public static func frame(_ opcode: WebSocketOpcode, _ payload: some Collection<UInt8>, fin: Bool = true,
                             mask: UInt32? = nil, into bytes: inout [UInt8]) {
        let header = WebSocketFrameHeader(fin: fin, opcode: opcode, mask: mask, payloadLength: UInt64(payload.count))
        header.serialize(into: &bytes)
        let start = bytes.count
        bytes.append(contentsOf: payload)
        if let mask { WebSocketMask.apply(mask, to: &bytes, range: start..<bytes.count, offset: 0) }
    }

    /// Appends a message as frames of at most `maximumFrameSize` bytes (the
    /// first with the message's opcode, the rest continuations, §5.4).
    public static func message(_ opcode: WebSocketOpcode, _ payload: [UInt8], maximumFrameSize: Int = 1 << 20,
                               mask: () -> UInt32? = { nil }, into bytes: inout [UInt8]) {
        precondition(opcode == .text || opcode == .binary, "a message is text or binary")
        var offset = 0
        var first = true
        repeat {
            let end = min(offset + max(maximumFrameSize, 1), payload.count)
            frame(first ? opcode : .continuation, payload[offset..<end], fin: end == payload.count, mask: mask(), into: &bytes)
            first = false
            offset = end
        } while offset < payload.count
    }

    /// Appends a Close frame: the code, then the reason cut to fit the 125
    /// bytes of a control frame (at a character boundary).
    public static func close(_ code: WebSocketCloseCode?, reason: String = "", mask: UInt32? = nil, into bytes: inout [UInt8]) {
        var payload: [UInt8] = []
        if let code {
            payload = [UInt8(code.rawValue >> 8), UInt8(truncatingIfNeeded: code.rawValue)]
            var text = Substring(reason)
            while text.utf8.count > 123 { text = text.dropLast() }
            payload.append(contentsOf: text.utf8)
        }
        frame(.close, payload, mask: mask, into: &bytes)
    }
}
