import SwiftletHPACK
import SwiftletHTTP

/// Receives a request's decoded fields (an `HPACKSink`), stores them in the
/// stream's `HTTPRequestHead`, and checks RFC 9113 §8.2–§8.3. A violation makes
/// the request malformed: "Malformed requests or responses that are detected
/// MUST be treated as a stream error of type PROTOCOL_ERROR" (§8.1.1). The
/// first violation is kept; decoding always runs to the end so the HPACK
/// state stays in step with the peer.
struct RequestValidator: HPACKSink {
    enum Mode { case request, trailers }

    /// The request head the pseudo-header fields go to (nil for trailers),
    /// and where the regular fields go: the request's fields or the
    /// trailers. Held and used without reference counting (`Unmanaged`,
    /// lent with `_withUnsafeGuaranteedRef`). Invariant: a validator is a
    /// local of the engine's header-block path, which holds the stream whose
    /// request head or trailer list these are for the validator's whole life.
    private let request: Unmanaged<HTTPRequestHead>?
    private let fields: Unmanaged<HTTPFieldList>
    let mode: Mode
    private(set) var violation: Rejection?
    private var sawRegularField = false
    private var hasMethod = false, hasScheme = false, hasPath = false, hasAuthority = false
    private var isConnect = false
    /// Whether `:protocol` may appear (we advertised SETTINGS_ENABLE_CONNECT_PROTOCOL).
    private let extendedConnect: Bool
    private var hasProtocol = false
    private var isOptions = false
    private var pathIsAsterisk = false
    private var pathStartsWithSlash = false
    private var schemeIsHTTP = false
    /// The `content-length` value, if any (§8.1.1).
    private(set) var contentLength: Int?

    init(request: HTTPRequestHead, extendedConnect: Bool = false) {
        self.init(request: Unmanaged.passUnretained(request), fields: Unmanaged.passUnretained(request.fields),
                  extendedConnect: extendedConnect)
    }

    /// The same, for a caller that keeps both references unretained (a
    /// stream's `requestReference` and `requestFieldsReference`).
    init(request: Unmanaged<HTTPRequestHead>, fields: Unmanaged<HTTPFieldList>, extendedConnect: Bool) {
        self.request = request
        self.fields = fields
        mode = .request
        self.extendedConnect = extendedConnect
    }

    init(trailers: HTTPFieldList) {
        request = nil
        fields = Unmanaged.passUnretained(trailers)
        mode = .trailers
        extendedConnect = false
    }

    private mutating func fail(_ kind: Violation, _ reason: String) {
        if violation == nil { violation = Rejection(kind, reason) }
    }

    mutating func field(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, neverIndexed: Bool) {
        // CVE-2019-9516: 0-length names; field-name is a token (RFC 9110 §5.1).
        guard name.count > 0 else {
            fail(.emptyHeaderName, "empty field name")
            return
        }
        if name[0] == UInt8(ascii: ":") {
            pseudoField(name, value)
            return
        }
        sawRegularField = true
        // §8.2.1: "A field name MUST NOT contain characters in the ranges
        // 0x00-0x20, 0x41-0x5a, or 0x7f-0xff ... field names MUST NOT include
        // a colon".
        if Self.nameHasForbiddenByte(name) {
            for byte in name where Self.isForbiddenInName(byte) {
                fail(byte >= 0x41 && byte <= 0x5A ? .uppercaseHeaderName : .invalidHeaderName,
                     "field name '\(String(decoding: name, as: UTF8.self))' has an invalid character")
                return
            }
        }
        guard validValue(value, name: name) else { return }
        if HTTPFieldList.isConnectionSpecific(name) {
            // §8.2.2: "any message containing connection-specific header
            // fields MUST be treated as malformed".
            fail(.connectionSpecificHeader, "connection-specific field '\(String(decoding: name, as: UTF8.self))'")
            return
        }
        if HTTPFieldList.equal(name, HTTPFieldList.span("te")) && !HTTPFieldList.equal(value, HTTPFieldList.span("trailers")) {
            // §8.2.2: TE "MUST NOT contain any value other than "trailers"".
            fail(.teNotTrailers, "te must be \"trailers\"")
            return
        }
        if mode == .request && HTTPFieldList.equal(name, HTTPFieldList.span("content-length")) {
            guard let length = ASCII.parseLength(value) else {
                fail(.invalidContentLength, "content-length is not a number")
                return
            }
            if let previous = contentLength, previous != length {
                fail(.invalidContentLength, "conflicting content-length values")
                return
            }
            contentLength = length
        }
        if violation != nil { return }
        fields._withUnsafeGuaranteedRef { $0.append(name: name, value: value, neverIndexed: neverIndexed) }
    }

    private mutating func pseudoField(_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        // §8.3: "Pseudo-header fields MUST NOT appear in a trailer section."
        guard mode == .request else {
            fail(.pseudoHeaderInTrailers, "pseudo-header field in trailers")
            return
        }
        // "All pseudo-header fields MUST appear in a field block before all
        // regular field lines."
        guard !sawRegularField else {
            fail(.pseudoHeaderAfterRegular, "pseudo-header field after a regular field")
            return
        }
        guard validValue(value, name: name) else { return }
        switch Self.pseudoHeader(named: name) {
        case .method?:
            guard !hasMethod else { return repeated(name) }
            hasMethod = true
            request?._withUnsafeGuaranteedRef { $0.setPseudo(.method, value) }
            isConnect = HTTPFieldList.equal(value, HTTPFieldList.span("CONNECT"))
            isOptions = HTTPFieldList.equal(value, HTTPFieldList.span("OPTIONS"))
            if value.count == 0 { fail(.emptyMethod, ":method is empty") }
        case .scheme?:
            guard !hasScheme else { return repeated(name) }
            hasScheme = true
            request?._withUnsafeGuaranteedRef { $0.setPseudo(.scheme, value) }
            schemeIsHTTP = HTTPFieldList.equal(value, HTTPFieldList.span("http")) || HTTPFieldList.equal(value, HTTPFieldList.span("https"))
            if value.count == 0 { fail(.emptyScheme, ":scheme is empty") }
        case .path?:
            guard !hasPath else { return repeated(name) }
            hasPath = true
            request?._withUnsafeGuaranteedRef { $0.setPseudo(.path, value) }
            pathIsAsterisk = value.count == 1 && value[0] == UInt8(ascii: "*")
            pathStartsWithSlash = value.count > 0 && value[0] == UInt8(ascii: "/")
            // "This pseudo-header field MUST NOT be empty for "http" or "https" URIs".
            if value.count == 0 { fail(.emptyPath, ":path is empty") }
        case .authority?:
            guard !hasAuthority else { return repeated(name) }
            hasAuthority = true
            request?._withUnsafeGuaranteedRef { $0.setPseudo(.authority, value) }
        case .protocol? where extendedConnect:
            // RFC 8441 §4: "A new pseudo-header field :protocol MAY be included
            // on request HEADERS indicating the desired protocol to be spoken
            // on the tunnel created by CONNECT."
            guard !hasProtocol else { return repeated(name) }
            hasProtocol = true
            request?._withUnsafeGuaranteedRef { $0.setPseudo(.protocol, value) }
        case .protocol?, nil:
            // §8.3: a pseudo-header "that is not defined or is invalid" makes
            // the request malformed (":protocol" is defined only once we sent
            // SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441 §3).
            fail(.unknownPseudoHeader, "pseudo-header field '\(String(decoding: name, as: UTF8.self))' is not defined for requests")
        }
    }

    /// The request pseudo-header field `name` is (§8.3.1; `:protocol`, RFC
    /// 8441 §4), if any: a length test, then one comparison.
    static func pseudoHeader(named name: UnsafeRawBufferPointer) -> HTTPRequestHead.Pseudo? {
        let candidate: HTTPRequestHead.Pseudo
        let known: StaticString
        switch (name.count, name.count > 1 ? name[1] : 0) {
        case (5, UInt8(ascii: "p")): (candidate, known) = (.path, ":path")
        case (7, UInt8(ascii: "m")): (candidate, known) = (.method, ":method")
        case (7, UInt8(ascii: "s")): (candidate, known) = (.scheme, ":scheme")
        case (9, UInt8(ascii: "p")): (candidate, known) = (.protocol, ":protocol")
        case (10, UInt8(ascii: "a")): (candidate, known) = (.authority, ":authority")
        default: return nil
        }
        return HTTPFieldList.equal(name, HTTPFieldList.span(known)) ? candidate : nil
    }

    /// "The same pseudo-header field name MUST NOT appear more than once in
    /// a field block" (§8.3).
    private mutating func repeated(_ name: UnsafeRawBufferPointer) {
        fail(.duplicatePseudoHeader, "pseudo-header field '\(String(decoding: name, as: UTF8.self))' repeated")
    }

    /// §8.2.1: "A field value MUST NOT contain the zero value (ASCII NUL,
    /// 0x00), line feed (ASCII LF, 0x0a), or carriage return (ASCII CR, 0x0d)
    /// at any position. A field value MUST NOT start or end with an ASCII
    /// whitespace character (ASCII SP or HTAB, 0x20 or 0x09)."
    private mutating func validValue(_ value: UnsafeRawBufferPointer, name: UnsafeRawBufferPointer) -> Bool {
        if let first = value.first, let last = value.last,
           first == 0x20 || first == 0x09 || last == 0x20 || last == 0x09 {
            fail(.headerValueWhitespace, "value of '\(String(decoding: name, as: UTF8.self))' starts or ends with whitespace")
            return false
        }
        if Self.containsNULCROrLF(value) {
            fail(.invalidHeaderValue, "value of '\(String(decoding: name, as: UTF8.self))' contains NUL, CR or LF")
            return false
        }
        return true
    }

    /// §8.2.1's forbidden field-name bytes: 0x00–0x20, 0x41–0x5A
    /// (uppercase), 0x7F–0xFF, and the colon.
    @inline(__always)
    static func isForbiddenInName(_ byte: UInt8) -> Bool {
        byte <= 0x20 || (byte >= 0x41 && byte <= 0x5A) || byte >= 0x7F || byte == UInt8(ascii: ":")
    }

    /// Whether `name` holds a byte `isForbiddenInName` refuses, with the
    /// word tests of "Bit Twiddling Hacks": a byte below 0x21, above 0x7E,
    /// strictly between 0x40 and 0x5B, or equal to 0x3A.
    @inline(__always)
    static func nameHasForbiddenByte(_ name: UnsafeRawBufferPointer) -> Bool {
        anyByte(of: name, byte: isForbiddenInName) { word in
            let low = word & (0x7F &* ones)
            let below21 = (word &- 0x21 &* ones) & ~word
            let above7E = (word &+ (0x7F - 0x7E) &* ones) | word
            let upper = ((0x7F + 0x5B) &* ones &- low) & ~word & (low &+ (0x7F - 0x40) &* ones)
            let colon = word ^ (0x3A &* ones)
            return (below21 | above7E | upper | (colon &- ones) & ~colon) & highs != 0
        }
    }

    /// Whether `value` holds a NUL, LF or CR: a word has a zero byte exactly
    /// when `(w - 0x01…01) & ~w & 0x80…80` is not zero, and `w ^ 0x0A…0A`
    /// has one exactly where `w` has an LF (CR likewise).
    @inline(__always)
    static func containsNULCROrLF(_ value: UnsafeRawBufferPointer) -> Bool {
        anyByte(of: value, byte: { $0 <= 0x0D && ($0 == 0 || $0 == 0x0A || $0 == 0x0D) }) { word in
            let lf = word ^ (0x0A &* ones), cr = word ^ (0x0D &* ones)
            return ((word &- ones) & ~word | (lf &- ones) & ~lf | (cr &- ones) & ~cr) & highs != 0
        }
    }

    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// Whether a byte of `bytes` passes `byte`: eight bytes at a time with
    /// `word` (true when one of the word's bytes would) from 8 bytes on, the
    /// last word overlapping the one before; byte by byte below 8.
    @inline(__always)
    private static func anyByte(of bytes: UnsafeRawBufferPointer, byte: (UInt8) -> Bool, word: (UInt64) -> Bool) -> Bool {
        guard let base = bytes.baseAddress else { return false }
        let count = bytes.count
        guard count >= 8 else {
            for offset in 0..<count where byte(base.load(fromByteOffset: offset, as: UInt8.self)) { return true }
            return false
        }
        var offset = 0
        while offset + 8 < count {
            if word(base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) { return true }
            offset += 8
        }
        return word(base.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self))
    }

    /// Checks what can only be checked once the block is complete (§8.3.1).
    mutating func finish() {
        guard mode == .request, violation == nil else { return }
        if hasProtocol {
            // RFC 8441 §4: ":protocol" is a CONNECT's ("the desired protocol
            // to be spoken on the tunnel created by CONNECT"), and "On
            // requests that contain the :protocol pseudo-header field, the
            // :scheme and :path pseudo-header fields of the target URI MUST
            // also be included." The :authority names the origin (RFC 9113
            // §8.3.1), not a host to tunnel to.
            guard isConnect else {
                fail(.protocolWithoutConnect, ":protocol on a request that is not CONNECT")
                return
            }
            guard hasScheme, hasPath, hasAuthority, pathStartsWithSlash || !schemeIsHTTP else {
                fail(.extendedConnectIncomplete, "extended CONNECT without :scheme, :path (starting with '/') and :authority")
                return
            }
            return
        }
        if isConnect {
            // "The :scheme and :path pseudo-header fields MUST be omitted. The
            // :authority pseudo-header field MUST contain the host and port."
            if hasScheme || hasPath { fail(.connectWithPath, "CONNECT request with :scheme or :path") }
            if !hasAuthority { fail(.connectWithoutAuthority, "CONNECT request without :authority") }
            return
        }
        // "All HTTP/2 requests MUST include exactly one valid value for the
        // :method, :scheme, and :path pseudo-header fields, unless they are
        // CONNECT requests".
        guard hasMethod, hasScheme, hasPath else {
            fail(.missingPseudoHeader, "request lacks :method, :scheme or :path")
            return
        }
        if schemeIsHTTP {
            // ":path ... "http" or "https" URIs that do not contain a path
            // component MUST include a value of '/'", except OPTIONS with '*'.
            if !(pathStartsWithSlash || (pathIsAsterisk && isOptions)) {
                fail(.invalidPath, ":path must start with '/' (or be '*' for OPTIONS)")
                return
            }
            // "the request MUST contain either an :authority pseudo-header
            // field or a Host header field. If these fields are present, they
            // MUST NOT be empty. If both fields are present, they MUST contain
            // the same value."
            let host = fields._withUnsafeGuaranteedRef { $0.first("host") }
            let authority = hasAuthority ? request?._withUnsafeGuaranteedRef { $0.authorityBytes } : nil
            if authority == nil && host == nil {
                fail(.missingAuthority, "request has neither :authority nor host")
            } else if authority?.count == 0 || host?.count == 0 {
                fail(.emptyAuthority, ":authority or host is empty")
            } else if let authority, let host, !HTTPFieldList.equal(authority, host) {
                fail(.authorityHostMismatch, ":authority and host differ")
            }
        }
    }
}
