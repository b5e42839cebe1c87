/// JSON strings (RFC 8259 §7) written into a byte buffer, for log lines.
enum JSONText {
    /// `text` as a JSON string, or `null`.
    static func append(_ text: String?, to buffer: inout [UInt8]) {
        guard var text else { return buffer.append(contentsOf: "null".utf8) }
        text.withUTF8 { append(UnsafeRawBufferPointer($0), to: &buffer) }
    }

    /// `value` as a JSON string, or `null`: quotes and backslashes escaped,
    /// control characters as \u00XX; a value that is not UTF-8 (a raw
    /// request path, say) has its bytes above 0x7F escaped the same way, so
    /// the line stays valid JSON.
    static func append(_ value: UnsafeRawBufferPointer?, to buffer: inout [UInt8]) {
        guard let value else { return buffer.append(contentsOf: "null".utf8) }
        let isUTF8 = String(validating: value, as: UTF8.self) != nil
        buffer.append(UInt8(ascii: "\""))
        for byte in value {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                buffer.append(UInt8(ascii: "\\"))
                buffer.append(byte)
            case 0..<0x20, 0x7F:
                escape(byte, into: &buffer)
            case 0x80... where !isUTF8:
                escape(byte, into: &buffer)
            default:
                buffer.append(byte)
            }
        }
        buffer.append(UInt8(ascii: "\""))
    }

    private static func escape(_ byte: UInt8, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: "\\u00".utf8)
        buffer.append(hexDigits[Int(byte >> 4)])
        buffer.append(hexDigits[Int(byte & 15)])
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}
