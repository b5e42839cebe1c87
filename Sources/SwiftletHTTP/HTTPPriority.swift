/// Extensible priorities (RFC 9218): an urgency 0 (most urgent) ... 7 and
/// whether the response can be used incrementally.
public struct HTTPPriority: Equatable, Sendable, CustomStringConvertible {
    public var urgency: Int
    public var incremental: Bool

    /// RFC 9218 §4: "u=3" and not incremental.
    public static let `default` = HTTPPriority(urgency: 3, incremental: false)

    public init(urgency: Int, incremental: Bool) {
        self.urgency = min(max(urgency, 0), 7)
        self.incremental = incremental
    }

    public var description: String { "u=\(urgency)\(incremental ? ", i" : "")" }

    /// Applies a Priority field value (a Structured Fields dictionary,
    /// RFC 8941) to `base`: "u=N" sets the urgency, "i" / "i=?1" / "i=?0"
    /// incrementalness. "Unknown parameters ... MUST be ignored", and so is
    /// a member whose value is out of range or of the wrong type (§4).
    public static func parse(_ value: UnsafeRawBufferPointer, base: HTTPPriority = .default) -> HTTPPriority {
        var result = base
        var start = 0
        while start <= value.count {
            var end = start
            while end < value.count && value[end] != UInt8(ascii: ",") { end += 1 }
            var a = start, b = end
            while a < b && (value[a] == 0x20 || value[a] == 0x09) { a += 1 }
            while b > a && (value[b - 1] == 0x20 || value[b - 1] == 0x09) { b -= 1 }
            // Drop member parameters (";...").
            var memberEnd = a
            while memberEnd < b && value[memberEnd] != UInt8(ascii: ";") { memberEnd += 1 }
            let member = UnsafeRawBufferPointer(rebasing: value[a..<memberEnd])
            if member.count >= 1 && member[0] == UInt8(ascii: "u") {
                if member.count == 3 && member[1] == UInt8(ascii: "=") && member[2] >= UInt8(ascii: "0") && member[2] <= UInt8(ascii: "7") {
                    result.urgency = Int(member[2] - UInt8(ascii: "0"))
                }
            } else if member.count >= 1 && member[0] == UInt8(ascii: "i") {
                if member.count == 1 {
                    result.incremental = true
                } else if member.count == 4 && member[1] == UInt8(ascii: "=") && member[2] == UInt8(ascii: "?") {
                    if member[3] == UInt8(ascii: "1") { result.incremental = true }
                    if member[3] == UInt8(ascii: "0") { result.incremental = false }
                }
            }
            start = end + 1
        }
        return result
    }

    /// A hint from an RFC 7540 weight (1...256) for clients that send no
    /// RFC 9218 signal: heavier is more urgent, in the bands browsers use
    /// (Chrome: 256 highest, 220 medium, 183 low, 147 lowest, 110 idle).
    public static func fromRFC7540(weight: Int) -> HTTPPriority {
        let urgency: Int
        switch weight {
        case 221...: urgency = 1
        case 184...220: urgency = 2
        case 148...183: urgency = 3
        case 111...147: urgency = 4
        default: urgency = 5
        }
        return HTTPPriority(urgency: urgency, incremental: false)
    }
}
