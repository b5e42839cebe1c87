/// Byte-level helpers for the ASCII parts of HTTP (RFC 9110), shared by
/// the HTTP/1.1 parser and the HTTP/2 request validator; none allocates.
public enum ASCII {
    /// `bytes` equals `text`, ASCII letters compared without case.
    public static func equalIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        guard bytes.count == text.utf8CodeUnitCount else { return false }
        for index in 0..<bytes.count where lowercased(bytes[index]) != lowercased(text.utf8Start[index]) {
            return false
        }
        return true
    }

    /// `a` equals `b`, ASCII letters compared without case.
    public static func equalIgnoringCase(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        for index in 0..<a.count where lowercased(a[index]) != lowercased(b[index]) {
            return false
        }
        return true
    }

    @inline(__always)
    public static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte
    }

    /// A content-length value (RFC 9110 §8.6: `1*DIGIT`), at most 18 digits
    /// so it cannot overflow; nil for anything else.
    public static func parseLength(_ value: UnsafeRawBufferPointer) -> Int? {
        guard value.count > 0, value.count <= 18 else { return nil }
        var result = 0
        for byte in value {
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            result = result * 10 + Int(byte - 0x30)
        }
        return result
    }

    /// tchar (RFC 9110 §5.6.2).
    public static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
        default: false
        }
    }

    /// Calls `body` with each element of a comma-separated list (RFC 9110
    /// §5.6.1: `#element`), optional whitespace around it trimmed and empty
    /// elements skipped.
    public static func forEachListElement(_ value: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        while start <= value.count {
            var end = start
            while end < value.count && value[end] != UInt8(ascii: ",") { end += 1 }
            var first = start, last = end
            while first < last && isWhitespace(value[first]) { first += 1 }
            while last > first && isWhitespace(value[last - 1]) { last -= 1 }
            if last > first { body(UnsafeRawBufferPointer(rebasing: value[first..<last])) }
            start = end + 1
        }
    }

    /// OWS: SP or HTAB (RFC 9110 §5.6.3).
    @inline(__always)
    public static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
}

/// Response status codes a handler may send.
public enum HTTPStatus {
    /// RFC 9110 §15: "three-digit integer codes"; a handler's status outside
    /// 100...999 is a programming error: the connection answers 500 instead
    /// (and asserts in debug builds).
    public static func isValid(_ status: Int) -> Bool { status >= 100 && status <= 999 }

    /// `status`, or 500 for one that is not three digits (asserting in debug builds).
    public static func checked(_ status: Int) -> Int {
        guard isValid(status) else {
            assertionFailure("a handler sent status \(status), which is not three digits")
            return 500
        }
        return status
    }
}
