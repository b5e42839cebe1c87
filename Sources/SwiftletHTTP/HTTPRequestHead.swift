/// The head of a request: method, target and fields, as byte spans.
///
/// Owned by the exchange and reused for its next request; valid until the
/// exchange closes. Convenience `String` properties allocate; handlers on
/// the hot path compare spans (`method == "GET"` works without allocating).
public final class HTTPRequestHead {
    /// Regular fields, in order (cookies may come as several `cookie` fields).
    public let fields = HTTPFieldList()
    /// Pseudo-header values (HTTP/2) or their HTTP/1.1 equivalents, copied
    /// one after another into one buffer; each `Span` says where (a length
    /// of -1: absent). Cheaper per request than a field list: no names, no
    /// entries, one copy each.
    private var pseudoBytes: UnsafeMutableRawPointer
    private var pseudoCapacity = 256
    private var pseudoUsed = 0
    private struct Span {
        var offset: Int32 = 0
        var length: Int32 = -1
    }
    private var methodSpan = Span(), schemeSpan = Span(), authoritySpan = Span(), pathSpan = Span(), protocolSpan = Span()
    var protocolVersion: StaticString = "h2"
    /// "h2" or "http/1.1" (for logs).
    public var version: StaticString { protocolVersion }

    public init() {
        pseudoBytes = .allocate(byteCount: pseudoCapacity, alignment: 8)
    }

    deinit { pseudoBytes.deallocate() }

    /// Clears everything for the next request.
    public func reset() {
        fields.removeAll()
        pseudoUsed = 0
        methodSpan = Span()
        schemeSpan = Span()
        authoritySpan = Span()
        pathSpan = Span()
        protocolSpan = Span()
    }

    public enum Pseudo { case method, scheme, authority, path, `protocol` }

    /// Records a pseudo-header value (protocol layers only).
    public func setPseudo(_ which: Pseudo, _ value: UnsafeRawBufferPointer) {
        if pseudoUsed + value.count > pseudoCapacity { growPseudoBytes(to: pseudoUsed + value.count) }
        if let source = value.baseAddress, value.count > 0 {
            (pseudoBytes + pseudoUsed).copyMemory(from: source, byteCount: value.count)
        }
        let span = Span(offset: Int32(pseudoUsed), length: Int32(value.count))
        pseudoUsed += value.count
        switch which {
        case .method: methodSpan = span
        case .scheme: schemeSpan = span
        case .authority: authoritySpan = span
        case .path: pathSpan = span
        case .protocol: protocolSpan = span
        }
    }

    private func growPseudoBytes(to needed: Int) {
        var capacity = pseudoCapacity * 2
        while capacity < needed { capacity *= 2 }
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        bigger.copyMemory(from: pseudoBytes, byteCount: pseudoUsed)
        pseudoBytes.deallocate()
        pseudoBytes = bigger
        pseudoCapacity = capacity
    }

    public func setVersion(_ version: StaticString) { protocolVersion = version }

    private func bytes(_ span: Span) -> UnsafeRawBufferPointer? {
        span.length >= 0 ? UnsafeRawBufferPointer(start: pseudoBytes + Int(span.offset), count: Int(span.length)) : nil
    }

    public var methodBytes: UnsafeRawBufferPointer { bytes(methodSpan) ?? UnsafeRawBufferPointer(start: nil, count: 0) }
    public var pathBytes: UnsafeRawBufferPointer { bytes(pathSpan) ?? UnsafeRawBufferPointer(start: nil, count: 0) }
    public var schemeBytes: UnsafeRawBufferPointer? { bytes(schemeSpan) }
    /// `:authority`, or the Host field.
    public var authorityBytes: UnsafeRawBufferPointer? { bytes(authoritySpan) ?? fields.first("host") }
    /// `:protocol` of an extended CONNECT (RFC 8441), if any.
    public var protocolBytes: UnsafeRawBufferPointer? { bytes(protocolSpan) }
    /// Whether the authority came as a pseudo-header (`:authority`, or
    /// HTTP/1.1's absolute-form target), not only as a `host` field.
    var hasAuthorityPseudoHeader: Bool { authoritySpan.length >= 0 }

    public var method: String { String(decoding: methodBytes, as: UTF8.self) }
    public var path: String { String(decoding: pathBytes, as: UTF8.self) }
    public var authority: String? { authorityBytes.map { String(decoding: $0, as: UTF8.self) } }
    public var scheme: String? { schemeBytes.map { String(decoding: $0, as: UTF8.self) } }

    /// Whether the method is exactly `method` (no allocation).
    public func methodIs(_ method: StaticString) -> Bool {
        HTTPFieldList.equal(methodBytes, HTTPFieldList.span(method))
    }
}
