/// Checks UTF-8 a piece at a time (RFC 3629; the Unicode Standard's
/// table 3-7 of well-formed byte sequences), so a fragmented text message
/// can be refused at its first bad byte (RFC 6455 §8.1: "When an endpoint
/// is to interpret a byte stream as UTF-8 but finds that the byte stream is
/// not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the
/// WebSocket Connection_") even when a character spans two fragments.
public struct UTF8Validator: Equatable, Sendable {
    /// Continuation bytes the current character still needs.
    private var remaining = 0
    /// The range the next continuation byte must fall in (narrower after
    /// E0, ED, F0 and F4: no overlong forms, surrogates or code points
    /// above U+10FFFF).
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    public init() {}

    /// Whether `bytes` continue a well-formed sequence.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for byte in bytes {
            if remaining == 0 {
                switch byte {
                case 0x00...0x7F: continue
                case 0xC2...0xDF: start(1, 0x80, 0xBF)
                case 0xE0: start(2, 0xA0, 0xBF)
                case 0xE1...0xEC, 0xEE...0xEF: start(2, 0x80, 0xBF)
                case 0xED: start(2, 0x80, 0x9F)
                case 0xF0: start(3, 0x90, 0xBF)
                case 0xF1...0xF3: start(3, 0x80, 0xBF)
                case 0xF4: start(3, 0x80, 0x8F)
                default: return false  // 80–C1 cannot start a character, F5–FF never appear
                }
            } else {
                guard byte >= lower && byte <= upper else { return false }
                remaining -= 1
                lower = 0x80
                upper = 0xBF
            }
        }
        return true
    }

    /// Whether the bytes so far end on a character boundary.
    public var isComplete: Bool { remaining == 0 }

    private mutating func start(_ count: Int, _ low: UInt8, _ high: UInt8) {
        remaining = count
        lower = low
        upper = high
    }
}
