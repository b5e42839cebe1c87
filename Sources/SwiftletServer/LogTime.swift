import Glibc

/// UTC timestamps to the millisecond for JSON log lines (ISO 8601,
/// "2026-12-01T18:35:00.123Z"). The date and time of day are formatted once
/// per second and kept; each stamp adds only the milliseconds.
struct LogTime {
    private var second = -1
    private var secondText: [UInt8] = []

    mutating func append(to buffer: inout [UInt8]) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        if now.tv_sec != second {
            second = now.tv_sec
            var seconds = now.tv_sec
            var parts = tm()
            gmtime_r(&seconds, &parts)
            func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
            secondText = Array("\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))".utf8)
        }
        buffer.append(contentsOf: secondText)
        let millis = Int(now.tv_nsec / 1_000_000)
        buffer.append(UInt8(ascii: "."))
        buffer.append(UInt8(ascii: "0") + UInt8(millis / 100))
        buffer.append(UInt8(ascii: "0") + UInt8(millis / 10 % 10))
        buffer.append(UInt8(ascii: "0") + UInt8(millis % 10))
        buffer.append(UInt8(ascii: "Z"))
    }
}
