import Glibc

/// HTTP-date (RFC 9110 §5.6.7): formatting as IMF-fixdate, and parsing all
/// three formats a recipient "MUST accept" (IMF-fixdate, RFC 850, asctime).
public enum HTTPDate {
    private static let days: [StaticString] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months: [StaticString] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Length of an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
    public static let length = 29

    /// Writes `seconds` since the epoch as IMF-fixdate into the first 29
    /// bytes of `buffer`.
    public static func format(_ seconds: Int, into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= length)
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var position = 0
        func put(_ byte: UInt8) {
            buffer[position] = byte
            position += 1
        }
        func put(_ text: StaticString) {
            for index in 0..<text.utf8CodeUnitCount { put(text.utf8Start[index]) }
        }
        func two(_ value: Int32) {
            put(UInt8(ascii: "0") + UInt8(value / 10))
            put(UInt8(ascii: "0") + UInt8(value % 10))
        }
        put(days[Int(parts.tm_wday)])
        put(", ")
        two(parts.tm_mday)
        put(" ")
        put(months[Int(parts.tm_mon)])
        put(" ")
        let year = parts.tm_year + 1900
        two(year / 100)
        two(year % 100)
        put(" ")
        two(parts.tm_hour)
        put(":")
        two(parts.tm_min)
        put(":")
        two(parts.tm_sec)
        put(" GMT")
    }

    /// `seconds` as an IMF-fixdate string.
    public static func string(_ seconds: Int) -> String {
        var bytes = [UInt8](repeating: 0, count: length)
        bytes.withUnsafeMutableBytes { format(seconds, into: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses an HTTP-date; nil when it is none of the three formats:
    ///
    ///     IMF-fixdate  Sun, 06 Nov 1994 08:49:37 GMT
    ///     RFC 850      Sunday, 06-Nov-94 08:49:37 GMT
    ///     asctime      Sun Nov  6 08:49:37 1994
    public static func parse(_ value: UnsafeRawBufferPointer) -> Int? {
        var bytes = value[...]
        while let last = bytes.last, last == 0x20 { bytes = bytes.dropLast() }
        func number(_ slice: Slice<UnsafeRawBufferPointer>) -> Int? {
            var result = 0
            var digits = 0
            for byte in slice {
                if byte == 0x20 && digits == 0 { continue }
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                result = result * 10 + Int(byte - 0x30)
                digits += 1
            }
            return digits > 0 ? result : nil
        }
        func month(_ slice: Slice<UnsafeRawBufferPointer>) -> Int? {
            guard slice.count == 3 else { return nil }
            for (index, name) in months.enumerated() {
                let name = UnsafeRawBufferPointer(start: name.utf8Start, count: 3)
                if name.elementsEqual(slice) { return index }
            }
            return nil
        }
        func time(_ slice: Slice<UnsafeRawBufferPointer>) -> (Int, Int, Int)? {
            guard slice.count == 8 else { return nil }
            let s = slice.startIndex
            guard slice[s + 2] == UInt8(ascii: ":"), slice[s + 5] == UInt8(ascii: ":"),
                  let h = number(slice[s..<s + 2]), let m = number(slice[s + 3..<s + 5]), let sec = number(slice[s + 6..<s + 8]) else { return nil }
            return (h, m, sec)
        }
        let parts = bytes.split(separator: 0x20, omittingEmptySubsequences: true)
        var day = 0, monthIndex = 0, year = 0
        var clock = (0, 0, 0)
        if parts.count == 6, parts[0].last == UInt8(ascii: ","), parts[5].elementsEqual("GMT".utf8) {
            // IMF-fixdate
            guard let d = number(parts[1]), let m = month(parts[2]), let y = number(parts[3]), parts[3].count == 4,
                  let t = time(parts[4]) else { return nil }
            (day, monthIndex, year, clock) = (d, m, y, t)
        } else if parts.count == 4, parts[0].last == UInt8(ascii: ","), parts[3].elementsEqual("GMT".utf8) {
            // RFC 850: dd-Mon-yy; two-digit years within 50 years of now (§5.6.7).
            let date = parts[1]
            guard date.count == 9, let d = number(date.prefix(2)), let m = month(date.dropFirst(3).prefix(3)),
                  let yy = number(date.suffix(2)), let t = time(parts[2]) else { return nil }
            (day, monthIndex, year, clock) = (d, m, yy < 70 ? 2000 + yy : 1900 + yy, t)
        } else if parts.count == 5 {
            // asctime
            guard let m = month(parts[1]), let d = number(parts[2]), let t = time(parts[3]), let y = number(parts[4]) else { return nil }
            (day, monthIndex, year, clock) = (d, m, y, t)
        } else {
            return nil
        }
        guard day >= 1 && day <= 31, clock.0 < 24, clock.1 < 60, clock.2 <= 60 else { return nil }
        // Days since the epoch (proleptic Gregorian, March-based algorithm).
        let y = monthIndex < 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = monthIndex + 1
        let dayOfYear = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return days * 86_400 + clock.0 * 3600 + clock.1 * 60 + clock.2
    }
}
