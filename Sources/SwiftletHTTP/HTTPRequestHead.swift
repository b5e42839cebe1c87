/// The head of a request: method, target and fields, as byte spans.
///
/// Owned by the exchange and reused for its next request; valid until the
/// exchange closes. Convenience `String` properties allocate; handlers on
/// the hot path compare spans (`method == "GET"` works without allocating).
public final class HTTPRequestHead {
    /// Regular fields, in order (cookies may come as several `cookie` fields).
    public let fields = HTTPFieldList()
    /// Pseudo-header values (HTTP/2) or their HTTP/1.1 equivalents.
    let pseudo = HTTPFieldList(byteCapacity: 512, fieldCapacity: 4)
    var methodIndex = -1
    var schemeIndex = -1
    var authorityIndex = -1
    var pathIndex = -1
    var protocolIndex = -1
    var protocolVersion: StaticString = "h2"
    /// "h2" or "http/1.1" (for logs).
    public var version: StaticString { protocolVersion }

    public init() {}

    /// Clears everything for the next request.
    public func reset() {
        fields.removeAll()
        pseudo.removeAll()
        methodIndex = -1
        schemeIndex = -1
        authorityIndex = -1
        pathIndex = -1
        protocolIndex = -1
    }

    public enum Pseudo { case method, scheme, authority, path, `protocol` }

    /// Records a pseudo-header value (protocol layers only).
    public func setPseudo(_ which: Pseudo, _ value: UnsafeRawBufferPointer) {
        let index = pseudo.count
        pseudo.append(name: UnsafeRawBufferPointer(start: nil, count: 0), value: value)
        switch which {
        case .method: methodIndex = index
        case .scheme: schemeIndex = index
        case .authority: authorityIndex = index
        case .path: pathIndex = index
        case .protocol: protocolIndex = index
        }
    }

    public func setVersion(_ version: StaticString) { protocolVersion = version }

    private func span(_ index: Int) -> UnsafeRawBufferPointer? { index >= 0 ? pseudo[index].value : nil }

    public var methodBytes: UnsafeRawBufferPointer { span(methodIndex) ?? UnsafeRawBufferPointer(start: nil, count: 0) }
    public var pathBytes: UnsafeRawBufferPointer { span(pathIndex) ?? UnsafeRawBufferPointer(start: nil, count: 0) }
    public var schemeBytes: UnsafeRawBufferPointer? { span(schemeIndex) }
    /// `:authority`, or the Host field.
    public var authorityBytes: UnsafeRawBufferPointer? { span(authorityIndex) ?? fields.first("host") }
    /// `:protocol` of an extended CONNECT (RFC 8441), if any.
    public var protocolBytes: UnsafeRawBufferPointer? { span(protocolIndex) }

    public var method: String { String(decoding: methodBytes, as: UTF8.self) }
    public var path: String { String(decoding: pathBytes, as: UTF8.self) }
    public var authority: String? { authorityBytes.map { String(decoding: $0, as: UTF8.self) } }
    public var scheme: String? { schemeBytes.map { String(decoding: $0, as: UTF8.self) } }

    /// Whether the method is exactly `method` (no allocation).
    public func methodIs(_ method: StaticString) -> Bool {
        HTTPFieldList.equal(methodBytes, HTTPFieldList.span(method))
    }
}
