import ArgumentParser
import SwiftletLoop
import SwiftletServer
import SwiftletStatic

/// Parsing of flag values with messages that name the flag, the value and
/// the allowed range (ArgumentParser prints them and exits with 64).
struct FlagError: Error, CustomStringConvertible {
    let description: String
}

enum FlagValue {
    /// "HOST:PORT" (an IPv6 host in brackets: "[::1]:9100"), port 0...65535.
    static func hostPort(_ text: String, flag: String) throws -> (host: String, port: UInt16) {
        let problem = FlagError(description: "\(flag): '\(text)' is not HOST:PORT (for example 127.0.0.1:9100 or [::1]:9100)")
        guard let colon = text.lastIndex(of: ":") else { throw problem }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let portText = String(text[text.index(after: colon)...])
        guard !host.isEmpty, !host.contains("[") else { throw problem }
        let port = try integer(portText, flag: flag, range: 0...65535)
        return (host, UInt16(port))
    }

    /// A `--listen` address: `HOST:PORT`, `[IPV6]:PORT`, `unix:PATH` or
    /// `systemd`. The Unix socket's mode comes from `--unix-socket-mode`.
    static func listenAddress(_ text: String, flag: String) throws -> ListenAddress {
        if text == "systemd" { return .systemd }
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard (try? SocketAddress(unixPath: path)) != nil else {
                throw FlagError(description: "\(flag): '\(text)': the Unix socket path must be 1 to 107 bytes")
            }
            return .unix(path: path)
        }
        guard text.contains(":") else {
            throw FlagError(description: "\(flag): '\(text)' is not HOST:PORT, [IPV6]:PORT, unix:PATH or systemd")
        }
        let (host, port) = try hostPort(text, flag: flag)
        return .tcp(host: host, port: port)
    }

    /// An address or CIDR range.
    static func addressRange(_ text: String, flag: String) throws -> AddressRange {
        do { return try AddressRange(cidr: text) } catch { throw FlagError(description: "\(flag): \(error)") }
    }

    /// A file mode in octal, like 660 or 0660.
    static func octalMode(_ text: String, flag: String) throws -> UInt32 {
        guard let mode = UInt32(text, radix: 8), mode <= 0o777 else {
            throw FlagError(description: "\(flag): '\(text)' is not an octal file mode like 660 (allowed: 0...777)")
        }
        return mode
    }

    /// One of an enumeration's raw values.
    static func choice<Choice: RawRepresentable & CaseIterable>(_ text: String, flag: String, _ type: Choice.Type) throws -> Choice
    where Choice.RawValue == String {
        guard let value = Choice(rawValue: text) else {
            let allowed = Choice.allCases.map(\.rawValue).joined(separator: ", ")
            throw FlagError(description: "\(flag): '\(text)' is not one of \(allowed)")
        }
        return value
    }

    /// Content codings, comma-separated, each once: "br,zstd,gzip".
    static func codings(_ text: String, flag: String) throws -> [ContentCoding] {
        var codings: [ContentCoding] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let name = String(item)
            guard let coding = ContentCoding(rawValue: name) else {
                throw FlagError(description: "\(flag): '\(name)' is not one of br, zstd, gzip")
            }
            guard !codings.contains(coding) else {
                throw FlagError(description: "\(flag): \(name) is given twice")
            }
            codings.append(coding)
        }
        return codings
    }

    /// Levels by coding: "br=5,zstd=6,gzip=6" (any of them).
    static func codingLevels(_ text: String, flag: String) throws -> [ContentCoding: Int] {
        var levels: [ContentCoding: Int] = [:]
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0])
            guard pair.count == 2, let coding = ContentCoding(rawValue: name) else {
                throw FlagError(description: "\(flag): '\(item)' is not CODING=LEVEL with CODING one of br, zstd, gzip (for example br=5,gzip=9)")
            }
            let range = Compressor.levels(coding)
            guard let level = Int(pair[1]), range.contains(level) else {
                throw FlagError(description: "\(flag): \(name) level '\(pair[1])' is out of range (allowed: \(range.lowerBound)...\(range.upperBound))")
            }
            levels[coding] = level
        }
        return levels
    }

    /// Media types, comma-separated: "text/*,application/json".
    static func mediaTypes(_ text: String, flag: String) throws -> [MediaTypePattern] {
        guard !text.split(separator: ",").isEmpty else {
            throw FlagError(description: "\(flag): give at least one media type like text/css or text/* (or turn compression off with --compress off)")
        }
        return try text.split(separator: ",").map { item in
            let name = String(item)
            guard let pattern = MediaTypePattern(name) else {
                throw FlagError(description: "\(flag): '\(name)' is not a media type like text/css or text/*")
            }
            return pattern
        }
    }

    static func integer(_ text: String, flag: String, range: ClosedRange<Int>) throws -> Int {
        guard let value = Int(text) else {
            throw FlagError(description: "\(flag): '\(text)' is not a whole number (allowed: \(range.lowerBound)...\(range.upperBound))")
        }
        guard range.contains(value) else {
            throw FlagError(description: "\(flag): \(value) is out of range (allowed: \(range.lowerBound)...\(range.upperBound))")
        }
        return value
    }

    /// "64K", "1M", "2G" (powers of 1024) or plain bytes.
    static func size(_ text: String, flag: String, range: ClosedRange<Int>) throws -> Int {
        let multipliers: [Character: Int] = ["K": 1 << 10, "k": 1 << 10, "M": 1 << 20, "m": 1 << 20, "G": 1 << 30, "g": 1 << 30]
        var digits = Substring(text)
        var multiplier = 1
        if let last = digits.last, let factor = multipliers[last] {
            multiplier = factor
            digits = digits.dropLast()
        }
        guard let number = Int(digits), number >= 0, number <= Int.max / multiplier else {
            throw FlagError(description: "\(flag): '\(text)' is not a size like 65536, 64K, 16M or 1G (allowed: \(describeSize(range.lowerBound))...\(describeSize(range.upperBound)))")
        }
        let value = number * multiplier
        guard range.contains(value) else {
            throw FlagError(description: "\(flag): \(text) is out of range (allowed: \(describeSize(range.lowerBound))...\(describeSize(range.upperBound)))")
        }
        return value
    }

    /// "500ms", "10s", "2m", "1h" or plain seconds.
    static func duration(_ text: String, flag: String, range: ClosedRange<Duration>) throws -> Duration {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = Substring(text)
        var scale = 1.0
        for (suffix, factor) in units where number.hasSuffix(suffix) {
            number = number.dropLast(suffix.count)
            scale = factor
            break
        }
        guard let value = Double(number), value >= 0, value.isFinite else {
            throw FlagError(description: "\(flag): '\(text)' is not a duration like 500ms, 10s or 2m (allowed: \(describe(range.lowerBound))...\(describe(range.upperBound)))")
        }
        let duration = Duration.milliseconds(Int64((value * scale * 1000).rounded()))
        guard range.contains(duration) else {
            throw FlagError(description: "\(flag): \(text) is out of range (allowed: \(describe(range.lowerBound))...\(describe(range.upperBound)))")
        }
        return duration
    }

    static func describe(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if milliseconds % 1000 != 0 { return "\(milliseconds)ms" }
        return "\(milliseconds / 1000)s"
    }

    static func describeSize(_ bytes: Int) -> String {
        if bytes >= 1 << 30 && bytes % (1 << 30) == 0 { return "\(bytes >> 30)G" }
        if bytes >= 1 << 20 && bytes % (1 << 20) == 0 { return "\(bytes >> 20)M" }
        if bytes >= 1 << 10 && bytes % (1 << 10) == 0 { return "\(bytes >> 10)K" }
        return "\(bytes)"
    }
}
