import SwiftletHTTP2

/// What the first bytes of a connection without ALPN say it speaks.
///
/// - the HTTP/2 connection preface: HTTP/2 with prior knowledge (RFC 9113 §3.3);
/// - a first line ending in an HTTP version (`HTTP/` DIGIT `.` DIGIT,
///   RFC 9112 §2.3), or no line yet within `lineLimit` bytes: HTTP/1.x,
///   whose parser answers what is wrong with it;
/// - a complete first line that ends in no HTTP version at all: not
///   HTTP/1.x, so the peer gets HTTP/2's answer to an invalid preface
///   (§3.4: "Clients and servers MUST treat an invalid connection preface
///   as a connection error of type PROTOCOL_ERROR"), a GOAWAY, rather than
///   an HTTP/1.1 status line it cannot read.
enum FirstBytes: Equatable {
    case needMore
    case http2
    case http1
    case invalidPreface

    /// Bytes of first line looked at before leaving the decision to HTTP/1.1.
    static let lineLimit = 8192

    static func classify(_ input: UnsafeRawBufferPointer) -> FirstBytes {
        let preface = ConnectionState.preface
        var matches = true
        for index in 0..<min(input.count, preface.count) where input[index] != preface[index] {
            matches = false
            break
        }
        if matches { return input.count < preface.count ? .needMore : .http2 }
        // Leading empty lines are ignored (RFC 9112 §2.2).
        var start = 0
        while start < input.count && (input[start] == 0x0D || input[start] == 0x0A) { start += 1 }
        var end = start
        while end < input.count && input[end] != 0x0A {
            end += 1
            if end - start >= lineLimit { return .http1 }
        }
        guard end < input.count else { return .needMore }
        if end > start && input[end - 1] == 0x0D { end -= 1 }
        return endsInHTTPVersion(UnsafeRawBufferPointer(rebasing: input[start..<end])) ? .http1 : .invalidPreface
    }

    /// `... SP HTTP/d.d` (any digits: HTTP/1.1 answers 505 to versions it
    /// does not speak).
    static func endsInHTTPVersion(_ line: UnsafeRawBufferPointer) -> Bool {
        let name = Array("HTTP/".utf8)
        guard line.count >= 9 else { return false }
        let version = line.count - 8
        guard line[version - 1] == 0x20 else { return false }
        for index in 0..<5 where line[version + index] != name[index] { return false }
        return isDigit(line[version + 5]) && line[version + 6] == UInt8(ascii: ".") && isDigit(line[version + 7])
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
}
