/// RFC 6455 §5.2: a frame's opcode.
public enum WebSocketOpcode: UInt8, Sendable {
    case continuation = 0x0
    case text = 0x1
    case binary = 0x2
    case close = 0x8
    case ping = 0x9
    case pong = 0xA

    /// "Control frames are identified by opcodes where the most significant
    /// bit of the opcode is 1" (§5.5).
    public var isControl: Bool { rawValue & 0x8 != 0 }
}

/// RFC 6455 §5.2: the fixed part of a frame, decoded apart from deciding
/// what the frame means (`WebSocketDecoder` does that):
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-------+-+-------------+-------------------------------+
///     |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
///     |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
///     |N|V|V|V|       |S|             |   (if payload len==126/127)   |
///     | |1|2|3|       |K|             |                               |
///     +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
///     |     Extended payload length continued, if payload len == 127  |
///     + - - - - - - - - - - - - - - - +-------------------------------+
///     |                               |Masking-key, if MASK set to 1  |
///     +-------------------------------+-------------------------------+
public struct WebSocketFrameHeader: Equatable, Sendable {
    public var fin: Bool
    /// RSV1, RSV2, RSV3 as the frame's bits 0x40, 0x20, 0x10.
    public var reserved: UInt8
    public var opcode: UInt8
    /// The masking key, if the frame is masked.
    public var mask: UInt32?
    public var payloadLength: UInt64

    public init(fin: Bool = true, reserved: UInt8 = 0, opcode: WebSocketOpcode, mask: UInt32? = nil, payloadLength: UInt64) {
        self.init(fin: fin, reserved: reserved, rawOpcode: opcode.rawValue, mask: mask, payloadLength: payloadLength)
    }

    init(fin: Bool, reserved: UInt8, rawOpcode: UInt8, mask: UInt32?, payloadLength: UInt64) {
        self.fin = fin
        self.reserved = reserved
        opcode = rawOpcode
        self.mask = mask
        self.payloadLength = payloadLength
    }

    /// What reading a header from the front of some bytes gave.
    public enum Parse: Equatable {
        /// Not all of the header is there yet.
        case needMore
        case header(WebSocketFrameHeader, length: Int)
        case invalid(WebSocketViolation)
    }

    /// Reads a header from the front of `bytes` (syntax only: lengths).
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Parse {
        guard bytes.count >= 2 else { return .needMore }
        let first = bytes[0], second = bytes[1]
        let masked = second & 0x80 != 0
        var length = UInt64(second & 0x7F)
        var offset = 2
        if length == 126 {
            guard bytes.count >= 4 else { return .needMore }
            length = UInt64(bytes[2]) << 8 | UInt64(bytes[3])
            offset = 4
            // "the minimal number of bytes MUST be used to encode the length" (§5.2)
            guard length >= 126 else { return .invalid(.nonMinimalLength) }
        } else if length == 127 {
            guard bytes.count >= 10 else { return .needMore }
            length = 0
            for index in 2..<10 { length = length << 8 | UInt64(bytes[index]) }
            offset = 10
            // "the most significant bit MUST be 0" (§5.2)
            guard length >> 63 == 0 else { return .invalid(.lengthTooLarge) }
            guard length > 0xFFFF else { return .invalid(.nonMinimalLength) }
        }
        var mask: UInt32?
        if masked {
            guard bytes.count >= offset + 4 else { return .needMore }
            mask = UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
            offset += 4
        }
        let header = WebSocketFrameHeader(fin: first & 0x80 != 0, reserved: first & 0x70, rawOpcode: first & 0x0F,
                                          mask: mask, payloadLength: length)
        return .header(header, length: offset)
    }

    /// Appends the header's bytes (the shortest length encoding).
    public func serialize(into bytes: inout [UInt8]) {
        bytes.append((fin ? 0x80 : 0) | (reserved & 0x70) | (opcode & 0x0F))
        let maskBit: UInt8 = mask == nil ? 0 : 0x80
        if payloadLength < 126 {
            bytes.append(maskBit | UInt8(payloadLength))
        } else if payloadLength <= 0xFFFF {
            bytes.append(maskBit | 126)
            bytes.append(UInt8(payloadLength >> 8))
            bytes.append(UInt8(truncatingIfNeeded: payloadLength))
        } else {
            bytes.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: payloadLength >> UInt64(shift))) }
        }
        if let mask {
            for shift in [24, 16, 8, 0] { bytes.append(UInt8(truncatingIfNeeded: mask >> UInt32(shift))) }
        }
    }
}

/// RFC 6455 §5.3: XOR with the masking key, octet i with key octet i mod 4.
/// `offset` is the position of `bytes` within the frame's payload, so a
/// payload can be unmasked in pieces as it arrives.
public enum WebSocketMask {
    public static func apply(_ mask: UInt32, to bytes: inout [UInt8], range: Range<Int>, offset: UInt64) {
        let key: [UInt8] = [UInt8(mask >> 24), UInt8(truncatingIfNeeded: mask >> 16), UInt8(truncatingIfNeeded: mask >> 8),
                            UInt8(truncatingIfNeeded: mask)]
        var position = Int(offset % 4)
        for index in range {
            bytes[index] ^= key[position]
            position = (position + 1) & 3
        }
    }
}
