import SwiftletHTTP

/// Why a request head was refused (RFC 9112), with the status to answer.
struct HTTP1Rejection: Error, Equatable {
    let status: Int
    let token: String
    let reason: String
}

/// Parses an HTTP/1.1 request head in place (RFC 9112 §2-§7).
///
/// `parse` looks for the end of the head in the receive ring; once found,
/// it validates the request line and fields and stores them in an
/// `HTTPRequestHead` (names lowercased, as HTTP/2 delivers them). Nothing is
/// copied but what the request keeps.
enum HTTP1Parser {
    enum BodyFraming: Equatable {
        case none
        case length(Int)
        case chunked
    }

    struct Head {
        var length: Int          // bytes of the head, CRLF CRLF included
        var framing: BodyFraming
        var keepAlive: Bool
        var http10: Bool
        var expectsContinue: Bool
        /// The request asks to switch protocols (RFC 9110 §7.8): an
        /// `Upgrade` field and the `upgrade` connection option, in HTTP/1.1.
        var upgrade: Bool
    }

    /// Returns nil while the head is incomplete.
    static func parse(_ input: UnsafeRawBufferPointer, into request: HTTPRequestHead, maximumSize: Int,
                      maximumFields: Int, scheme: StaticString) throws(HTTP1Rejection) -> Head? {
        // Find CRLF CRLF (a bare LF line ending is accepted, §2.2).
        var end = -1
        var index = 0
        let limit = min(input.count, maximumSize + 4)
        while index < limit {
            if input[index] == 0x0A {
                if index + 1 < input.count && input[index + 1] == 0x0A { end = index + 2; break }
                if index + 2 < input.count && input[index + 1] == 0x0D && input[index + 2] == 0x0A { end = index + 3; break }
            }
            index += 1
        }
        if end < 0 {
            if input.count > maximumSize {
                throw HTTP1Rejection(status: 431, token: "h1_head_too_large", reason: "request head exceeds \(maximumSize) bytes")
            }
            return nil
        }
        request.reset()
        request.setVersion("http/1.1")
        var lines = LineIterator(input: UnsafeRawBufferPointer(rebasing: input[0..<end]))
        // Leading empty lines before the request line are ignored (§2.2).
        var requestLine = lines.next()
        while let line = requestLine, line.count == 0 { requestLine = lines.next() }
        guard let line = requestLine else {
            throw HTTP1Rejection(status: 400, token: "h1_bad_request_line", reason: "no request line")
        }
        // request-line = method SP request-target SP HTTP-version (§3)
        guard let firstSpace = line.firstIndex(of: 0x20),
              let lastSpace = line.lastIndex(of: 0x20), lastSpace > firstSpace else {
            throw HTTP1Rejection(status: 400, token: "h1_bad_request_line", reason: "malformed request line")
        }
        let method = UnsafeRawBufferPointer(rebasing: line[line.startIndex..<firstSpace])
        let target = UnsafeRawBufferPointer(rebasing: line[(firstSpace + 1)..<lastSpace])
        let version = UnsafeRawBufferPointer(rebasing: line[(lastSpace + 1)..<line.endIndex])
        guard method.count > 0, method.allSatisfy(ASCII.isTokenCharacter) else {
            throw HTTP1Rejection(status: 400, token: "h1_bad_method", reason: "invalid method")
        }
        let http10: Bool
        if HTTPFieldList.equal(version, HTTPFieldList.span("HTTP/1.1")) {
            http10 = false
        } else if HTTPFieldList.equal(version, HTTPFieldList.span("HTTP/1.0")) {
            http10 = true
        } else {
            throw HTTP1Rejection(status: 505, token: "h1_bad_version", reason: "unsupported HTTP version")
        }
        guard target.count > 0, !target.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw HTTP1Rejection(status: 400, token: "h1_bad_target", reason: "invalid request target")
        }
        request.setPseudo(.method, method)
        request.setPseudo(.scheme, HTTPFieldList.span(scheme))
        // absolute-form (§3.2.2): keep the path, the authority comes from it.
        var path = target
        var absoluteAuthority: UnsafeRawBufferPointer?
        if target[0] != UInt8(ascii: "/") && target[0] != UInt8(ascii: "*") {
            guard let schemeEnd = firstIndex(of: "://", in: target) else {
                throw HTTP1Rejection(status: 400, token: "h1_bad_target", reason: "request target is not origin-form or absolute-form")
            }
            let rest = UnsafeRawBufferPointer(rebasing: target[(schemeEnd + 3)...])
            let slash = rest.firstIndex(of: UInt8(ascii: "/")) ?? rest.count
            absoluteAuthority = UnsafeRawBufferPointer(rebasing: rest[0..<slash])
            path = slash < rest.count ? UnsafeRawBufferPointer(rebasing: rest[slash...]) : HTTPFieldList.span("/")
        }
        request.setPseudo(.path, path)
        // Fields.
        var contentLength: Int?
        var chunked = false
        var sawTransferEncoding = false
        var hostCount = 0
        var connectionClose = false
        var connectionKeepAlive = false
        var expectsContinue = false
        var connectionUpgrade = false
        var upgradeField = false
        var lowered = [UInt8]()
        while let field = lines.next() {
            if field.count == 0 { break }
            // §5.2: "A server that receives an obs-fold in a request message ...
            // MUST either reject the message by sending a 400 (Bad Request)".
            if field[field.startIndex] == 0x20 || field[field.startIndex] == 0x09 {
                throw HTTP1Rejection(status: 400, token: "h1_obs_fold", reason: "obsolete line folding")
            }
            guard let colon = field.firstIndex(of: UInt8(ascii: ":")), colon > field.startIndex else {
                throw HTTP1Rejection(status: 400, token: "h1_bad_field", reason: "field line without a name")
            }
            let name = UnsafeRawBufferPointer(rebasing: field[field.startIndex..<colon])
            // §5.1: "No whitespace is allowed between the field name and colon."
            guard name.allSatisfy(ASCII.isTokenCharacter) else {
                throw HTTP1Rejection(status: 400, token: "h1_bad_field", reason: "invalid field name")
            }
            var valueStart = colon + 1
            var valueEnd = field.endIndex
            while valueStart < valueEnd && (field[valueStart] == 0x20 || field[valueStart] == 0x09) { valueStart += 1 }
            while valueEnd > valueStart && (field[valueEnd - 1] == 0x20 || field[valueEnd - 1] == 0x09) { valueEnd -= 1 }
            let value = UnsafeRawBufferPointer(rebasing: field[valueStart..<valueEnd])
            guard !value.contains(where: { $0 == 0 || $0 == 0x0D || $0 == 0x0A }) else {
                throw HTTP1Rejection(status: 400, token: "h1_bad_field", reason: "invalid field value")
            }
            lowered.removeAll(keepingCapacity: true)
            for byte in name { lowered.append(byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte) }
            let problem: HTTP1Rejection? = lowered.withUnsafeBytes { name in
                switch name.count {
                case 4 where HTTPFieldList.equal(name, HTTPFieldList.span("host")):
                    hostCount += 1
                case 14 where HTTPFieldList.equal(name, HTTPFieldList.span("content-length")):
                    guard let length = ASCII.parseLength(value), contentLength == nil || contentLength == length else {
                        return HTTP1Rejection(status: 400, token: "h1_bad_content_length", reason: "invalid or conflicting content-length")
                    }
                    contentLength = length
                case 17 where HTTPFieldList.equal(name, HTTPFieldList.span("transfer-encoding")):
                    sawTransferEncoding = true
                    // §6.1: chunked must be the final coding; no other coding is supported.
                    guard ASCII.equalIgnoringCase(value, "chunked"), !chunked else {
                        return HTTP1Rejection(status: 501, token: "h1_transfer_coding", reason: "unsupported transfer coding")
                    }
                    chunked = true
                case 10 where HTTPFieldList.equal(name, HTTPFieldList.span("connection")):
                    // §9.6: "close" and "keep-alive" among the connection options.
                    ASCII.forEachListElement(value) { option in
                        if ASCII.equalIgnoringCase(option, "close") { connectionClose = true }
                        if ASCII.equalIgnoringCase(option, "keep-alive") { connectionKeepAlive = true }
                        if ASCII.equalIgnoringCase(option, "upgrade") { connectionUpgrade = true }
                    }
                case 7 where HTTPFieldList.equal(name, HTTPFieldList.span("upgrade")):
                    upgradeField = true
                case 6 where HTTPFieldList.equal(name, HTTPFieldList.span("expect")):
                    if ASCII.equalIgnoringCase(value, "100-continue") { expectsContinue = true }
                default:
                    break
                }
                request.fields.append(name: name, value: value)
                return nil
            }
            if let problem { throw problem }
            guard request.fields.count <= maximumFields else {
                throw HTTP1Rejection(status: 431, token: "h1_too_many_fields", reason: "more than \(maximumFields) fields")
            }
        }
        // §3.2: "A server MUST respond with a 400 (Bad Request) status code to
        // any HTTP/1.1 request message that lacks a Host header field and to any
        // request message that contains more than one Host header field line".
        if hostCount > 1 || (hostCount == 0 && !http10 && absoluteAuthority == nil) {
            throw HTTP1Rejection(status: 400, token: "h1_host", reason: hostCount > 1 ? "more than one Host field" : "missing Host field")
        }
        if let absoluteAuthority { request.setPseudo(.authority, absoluteAuthority) }
        // §6.1: both Transfer-Encoding and Content-Length smell of request
        // smuggling; refuse (and the connection closes after the answer).
        if sawTransferEncoding && contentLength != nil {
            throw HTTP1Rejection(status: 400, token: "h1_te_and_content_length", reason: "both Transfer-Encoding and Content-Length")
        }
        let framing: BodyFraming = chunked ? .chunked : (contentLength.map { $0 > 0 ? .length($0) : .none } ?? .none)
        let keepAlive = http10 ? connectionKeepAlive && !connectionClose : !connectionClose
        // RFC 9110 §7.8: "A server MUST ignore an Upgrade header field that is
        // received in an HTTP/1.0 request." and "When Upgrade is sent, the
        // sender MUST also send a Connection header field [...] that contains
        // an "upgrade" connection option".
        let upgrade = !http10 && upgradeField && connectionUpgrade
        return Head(length: end, framing: framing, keepAlive: keepAlive, http10: http10, expectsContinue: expectsContinue,
                    upgrade: upgrade)
    }

    static func firstIndex(of pattern: StaticString, in bytes: UnsafeRawBufferPointer) -> Int? {
        let count = pattern.utf8CodeUnitCount
        guard bytes.count >= count else { return nil }
        for start in 0...(bytes.count - count) {
            var match = true
            for offset in 0..<count where bytes[start + offset] != pattern.utf8Start[offset] {
                match = false
                break
            }
            if match { return start }
        }
        return nil
    }
}

/// Lines of a head (CRLF or LF endings), as spans without the ending.
struct LineIterator {
    let input: UnsafeRawBufferPointer
    var position = 0

    mutating func next() -> Slice<UnsafeRawBufferPointer>? {
        guard position < input.count else { return nil }
        var end = position
        while end < input.count && input[end] != 0x0A { end += 1 }
        let lineEnd = end > position && input[end - 1] == 0x0D ? end - 1 : end
        let line = input[position..<lineEnd]
        position = end + 1
        return line
    }
}
