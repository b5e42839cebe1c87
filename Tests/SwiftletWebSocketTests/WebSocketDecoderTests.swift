import SwiftletWebSocket
import Testing

/// A client's frames as bytes (masked unless told otherwise).
func clientFrame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, reserved: UInt8 = 0,
                 mask: UInt32? = 0x3712_A5F0) -> [UInt8] {
    var bytes: [UInt8] = []
    var header = WebSocketFrameHeader(opcode: .binary, mask: mask, payloadLength: UInt64(payload.count))
    header.fin = fin
    header.reserved = reserved
    header.opcode = opcode
    header.serialize(into: &bytes)
    let start = bytes.count
    bytes.append(contentsOf: payload)
    if let mask { WebSocketMask.apply(mask, to: &bytes, range: start..<bytes.count, offset: 0) }
    return bytes
}

func serverReceives(_ bytes: [UInt8], limits: WebSocketDecoder.Limits = .init())
    -> (events: [WebSocketDecoder.Event], violation: WebSocketViolation?) {
    var decoder = WebSocketDecoder(role: .server, limits: limits)
    return bytes.withUnsafeBytes { decoder.receive($0) }
}

@Suite("WebSocket decoder (RFC 6455 §5–§8), server role")
struct WebSocketDecoderTests {
    @Test("§5.7: a single-frame masked text message, and a fragmented one with a ping between fragments")
    func messages() {
        #expect(serverReceives(clientFrame(0x1, Array("Hello".utf8))).events == [.text("Hello")])
        let fragmented = clientFrame(0x1, Array("Hel".utf8), fin: false) + clientFrame(0x9, Array("hi".utf8))
            + clientFrame(0x0, Array("lo".utf8))
        let result = serverReceives(fragmented)
        #expect(result.events == [.ping(Array("hi".utf8)), .text("Hello")])
        #expect(result.violation == nil)
        #expect(serverReceives(clientFrame(0x2, [0, 1, 2, 255])).events == [.binary([0, 1, 2, 255])])
    }

    @Test("bytes may arrive one at a time; 16- and 64-bit lengths")
    func bytewise() {
        let long = [UInt8](repeating: 0x61, count: 70_000)
        let bytes = clientFrame(0x2, [UInt8](repeating: 7, count: 300)) + clientFrame(0x1, long)
        var decoder = WebSocketDecoder(role: .server)
        var events: [WebSocketDecoder.Event] = []
        for byte in bytes {
            let result = [byte].withUnsafeBytes { decoder.receive($0) }
            #expect(result.violation == nil)
            events += result.events
        }
        #expect(events == [.binary([UInt8](repeating: 7, count: 300)), .text(String(repeating: "a", count: 70_000))])
    }

    @Test("§5.1: an unmasked client frame fails with 1002; a masked server frame fails a client")
    func masking() {
        #expect(serverReceives(clientFrame(0x1, Array("x".utf8), mask: nil)).violation == .unmaskedClientFrame)
        var client = WebSocketDecoder(role: .client)
        #expect(clientFrame(0x1, [0x78]).withUnsafeBytes { client.receive($0) }.violation == .maskedServerFrame)
        #expect(WebSocketViolation.unmaskedClientFrame.closeCode == .protocolError)
    }

    @Test("§5.2: reserved bits, unknown opcodes and non-minimal lengths fail with 1002")
    func framing() {
        #expect(serverReceives(clientFrame(0x1, [0x61], reserved: 0x40)).violation == .reservedBitsSet)
        for opcode: UInt8 in [0x3, 0x7, 0xB, 0xF] {
            #expect(serverReceives(clientFrame(opcode, [])).violation == .unknownOpcode, "opcode \(opcode)")
        }
        // 5 bytes announced with the 16-bit form.
        #expect(serverReceives([0x82, 0xFE, 0x00, 0x05, 0, 0, 0, 0, 1, 2, 3, 4, 5]).violation == .nonMinimalLength)
        #expect(serverReceives([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0]).violation == .lengthTooLarge)
    }

    @Test("§5.5: control frames are at most 125 bytes and never fragmented")
    func controlFrames() {
        #expect(serverReceives(clientFrame(0x9, [UInt8](repeating: 0, count: 126))).violation == .controlFrameTooLong)
        #expect(serverReceives(clientFrame(0xA, [], fin: false)).violation == .fragmentedControlFrame)
        #expect(serverReceives(clientFrame(0xA, [1, 2])).events == [.pong([1, 2])])
    }

    @Test("§5.4: a continuation with no message, or a new message inside a fragmented one, fails with 1002")
    func fragmentation() {
        #expect(serverReceives(clientFrame(0x0, [0x61])).violation == .continuationWithoutMessage)
        #expect(serverReceives(clientFrame(0x1, [0x61], fin: false) + clientFrame(0x1, [0x62])).violation == .messageWhileFragmented)
    }

    @Test("§8.1: invalid UTF-8 fails with 1007 at once, even inside a fragmented message; a character may span fragments")
    func utf8() {
        let euro: [UInt8] = [0xE2, 0x82, 0xAC]
        let split = clientFrame(0x1, [0x61, euro[0]], fin: false) + clientFrame(0x0, Array(euro[1...]))
        #expect(serverReceives(split).events == [.text("a€")])
        let bad = clientFrame(0x1, [0x61, 0xC0, 0x80], fin: false)  // overlong NUL in the first fragment
        let result = serverReceives(bad)
        #expect(result.violation == .invalidUTF8 && result.events.isEmpty)
        #expect(WebSocketViolation.invalidUTF8.closeCode == .invalidPayload)
        #expect(serverReceives(clientFrame(0x1, [0x61, 0xE2, 0x82])).violation == .invalidUTF8, "ends mid-character")
        #expect(serverReceives(clientFrame(0x2, [0xC0, 0x80])).violation == nil, "binary is not text")
    }

    @Test("§5.5.1, §7.4: close codes and reasons")
    func close() {
        func closeFrame(_ payload: [UInt8]) -> [UInt8] { clientFrame(0x8, payload) }
        #expect(serverReceives(closeFrame([])).events == [.close(nil, "")])
        #expect(serverReceives(closeFrame([0x03, 0xE8] + Array("bye".utf8))).events == [.close(.normalClosure, "bye")])
        #expect(serverReceives(closeFrame([0x0B, 0xB8])).events == [.close(WebSocketCloseCode(rawValue: 3000), "")])
        #expect(serverReceives(closeFrame([0x03])).violation == .closeOneByte)
        for code: UInt16 in [0, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
            #expect(serverReceives(closeFrame([UInt8(code >> 8), UInt8(code & 0xFF)])).violation == .invalidCloseCode, "\(code)")
        }
        #expect(serverReceives(closeFrame([0x03, 0xE8, 0xFF])).violation == .invalidCloseReason)
        // Nothing is read after a Close.
        let result = serverReceives(closeFrame([0x03, 0xE8]) + clientFrame(0x1, [0x61]))
        #expect(result.events == [.close(.normalClosure, "")])
    }

    @Test("§7.4.1 1009: frames and messages over the limits fail before their bytes are buffered")
    func limits() {
        let limits = WebSocketDecoder.Limits(maximumFrameSize: 100, maximumMessageSize: 150)
        // Only the header of a 101-byte frame has arrived.
        #expect(serverReceives(Array(clientFrame(0x2, [UInt8](repeating: 0, count: 101)).prefix(8)), limits: limits).violation
                == .frameTooLarge)
        let message = clientFrame(0x2, [UInt8](repeating: 0, count: 100), fin: false) + clientFrame(0x0, [UInt8](repeating: 0, count: 51))
        #expect(serverReceives(message, limits: limits).violation == .messageTooLarge)
        #expect(WebSocketViolation.messageTooLarge.closeCode == .messageTooBig)
    }

    @Test("every violation has a token, a section, a reason and a close code a peer may receive")
    func catalogue() {
        let tokens = WebSocketViolation.allCases.map(\.token)
        #expect(Set(tokens).count == tokens.count)
        for violation in WebSocketViolation.allCases {
            #expect(violation.token.hasPrefix("ws_") && violation.section.hasPrefix("RFC 6455") && !violation.reason.isEmpty)
            #expect(violation.closeCode.isSendable)
        }
    }
}

@Suite("WebSocket encoder, masking and handshake (RFC 6455 §1.3, §5)")
struct WebSocketEncoderTests {
    @Test("server frames: unmasked, shortest lengths; a message split into continuation frames")
    func frames() {
        var bytes: [UInt8] = []
        WebSocketEncoder.frame(.text, Array("Hello".utf8), into: &bytes)
        #expect(bytes == [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])  // §5.7's example
        bytes = []
        WebSocketEncoder.frame(.binary, [UInt8](repeating: 0, count: 256), into: &bytes)
        #expect(Array(bytes.prefix(4)) == [0x82, 0x7E, 0x01, 0x00])
        bytes = []
        WebSocketEncoder.frame(.binary, [UInt8](repeating: 0, count: 65_536), into: &bytes)
        #expect(Array(bytes.prefix(10)) == [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])
        bytes = []
        WebSocketEncoder.message(.text, Array("Hello".utf8), maximumFrameSize: 3, into: &bytes)
        #expect(bytes == [0x01, 0x03, 0x48, 0x65, 0x6C, 0x80, 0x02, 0x6C, 0x6F])
        var client = WebSocketDecoder(role: .client)
        #expect(bytes.withUnsafeBytes { client.receive($0) }.events == [.text("Hello")])
    }

    @Test("§5.7: the masked example decodes; masking twice restores; a piece unmasked at an offset")
    func masking() {
        let masked: [UInt8] = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
        #expect(serverReceives(masked).events == [.text("Hello")])
        var payload = Array("Hello".utf8)
        WebSocketMask.apply(0x37FA_213D, to: &payload, range: 0..<5, offset: 0)
        #expect(payload == Array(masked[6...]))
        var tail = Array(masked[8...])
        WebSocketMask.apply(0x37FA_213D, to: &tail, range: 0..<3, offset: 2)
        #expect(tail == Array("llo".utf8))
    }

    @Test("close frames: code then reason, cut to 125 bytes at a character boundary")
    func close() {
        var bytes: [UInt8] = []
        WebSocketEncoder.close(.messageTooBig, reason: String(repeating: "é", count: 100), into: &bytes)
        #expect(bytes[0] == 0x88 && Int(bytes[1]) <= 125)
        var client = WebSocketDecoder(role: .client)
        let events = bytes.withUnsafeBytes { client.receive($0) }.events
        #expect(events == [.close(.messageTooBig, String(repeating: "é", count: 61))])
    }

    @Test("§1.3: the accept value of the RFC's example key; keys must be 16 bytes in base64")
    func handshake() {
        #expect(WebSocketHandshake.accept(key: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(WebSocketHandshake.isValidKey("dGhlIHNhbXBsZSBub25jZQ=="))
        for bad in ["", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZR==", "dGhlIHNhbXBsZSBub2!jZQ==", "dGhlIHNhbXBsZSBub25jZQ==="] {
            #expect(!WebSocketHandshake.isValidKey(bad), "\(bad)")
        }
    }
}

@Suite("UTF8Validator: well-formed sequences only (Unicode table 3-7)")
struct UTF8ValidatorTests {
    static func valid(_ bytes: [UInt8]) -> Bool {
        var validator = UTF8Validator()
        return bytes.withUnsafeBytes { validator.feed($0) } && validator.isComplete
    }

    @Test("accepts ASCII, 2-, 3- and 4-byte characters at the edges of their ranges")
    func accepts() {
        for text in ["", "plain", "é", "€", "\u{FFFF}", "\u{10000}", "\u{10FFFF}", "\u{D7FF}", "\u{E000}", "κόσμε"] {
            #expect(Self.valid(Array(text.utf8)), "\(text.unicodeScalars.map(\.value))")
        }
    }

    @Test("refuses overlong forms, surrogates, code points above U+10FFFF, stray and missing continuations")
    func refuses() {
        let cases: [[UInt8]] = [[0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF], [0xED, 0xA0, 0x80],
                                [0xED, 0xBF, 0xBF], [0xF0, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80],
                                [0xFF], [0x80], [0x61, 0xBF], [0xE2, 0x82], [0xC2, 0x41]]
        for bytes in cases { #expect(!Self.valid(bytes), "\(bytes)") }
    }
}
