import HTTPTypes

// apple/swift-http-types is the currency the Swift server ecosystem shares
// (Hummingbird, grpc-swift, swift-openapi). These conversions let a handler
// speak it at the edge while Swiftlet's core keeps its byte spans: they
// allocate (a `String` per field), so the zero-copy path stays for handlers
// that do not call them.
//
// Swiftlet's own types are named apart from theirs (`HTTPRequestHead`,
// `HTTPFieldList`), so an application can import both modules unqualified.

/// Why a request head could not be expressed in swift-http-types' terms.
public struct HTTPTypesConversionError: Error, Equatable, CustomStringConvertible {
    public let description: String
}

extension HTTPRequestHead {
    /// The head as swift-http-types' request: method, scheme, authority,
    /// path, `:protocol` of an extended CONNECT, and the fields in order
    /// (a never-indexed field, RFC 7541 §6.2.3, gets `indexingStrategy
    /// = .disallow`). Over HTTP/1.1 the `host` field becomes the authority,
    /// as HTTP/2's `:authority` would carry it.
    ///
    /// `fieldsMemo`, when given, hands out the fields of an earlier request
    /// with the same ones instead of converting them again (see
    /// `HTTPTypesFieldsMemo`).
    public func httpTypesRequest(fieldsMemo: HTTPTypesFieldsMemo? = nil) throws(HTTPTypesConversionError) -> HTTPRequest {
        guard let method = Self.knownMethod(methodBytes) ?? HTTPRequest.Method(method) else {
            throw HTTPTypesConversionError(description: "the method \(method.debugDescription) is not a token")
        }
        let fromPseudo = hasAuthorityPseudoHeader
        let headerFields = if let fieldsMemo {
            try fieldsMemo.fields(of: fields, skippingHost: !fromPseudo)
        } else {
            try fields.httpTypesFields(skippingHost: !fromPseudo)
        }
        var request = HTTPRequest(method: method, scheme: scheme, authority: authority, path: path,
                                  headerFields: headerFields)
        if let protocolBytes {
            request.extendedConnectProtocol = String(decoding: protocolBytes, as: UTF8.self)
        }
        return request
    }
}

extension HTTPRequestHead {
    /// The predefined method for the common ones (no allocation).
    static func knownMethod(_ bytes: UnsafeRawBufferPointer) -> HTTPRequest.Method? {
        @inline(__always) func is_(_ name: StaticString) -> Bool { HTTPFieldList.equal(bytes, HTTPFieldList.span(name)) }
        switch bytes.count {
        case 3 where is_("GET"): return .get
        case 3 where is_("PUT"): return .put
        case 4 where is_("POST"): return .post
        case 4 where is_("HEAD"): return .head
        case 5 where is_("PATCH"): return .patch
        case 5 where is_("TRACE"): return .trace
        case 6 where is_("DELETE"): return .delete
        case 7 where is_("OPTIONS"): return .options
        case 7 where is_("CONNECT"): return .connect
        default: return nil
        }
    }
}

extension HTTPFieldList {
    /// These fields as swift-http-types fields, in order; never-indexed ones
    /// with `indexingStrategy = .disallow`.
    public func httpTypesFields() throws(HTTPTypesConversionError) -> HTTPFields {
        try httpTypesFields(skippingHost: false)
    }

    func httpTypesFields(skippingHost: Bool) throws(HTTPTypesConversionError) -> HTTPFields {
        var result = HTTPFields()
        result.reserveCapacity(count)
        for index in 0..<count {
            let field = self[index]
            if skippingHost && Self.equal(field.name, Self.span("host")) { continue }
            guard let name = Self.httpTypesName(field.name) else {
                let nameText = String(decoding: field.name, as: UTF8.self)
                throw HTTPTypesConversionError(description: "the field name \(nameText.debugDescription) is not a token")
            }
            var converted = HTTPField(name: name, value: field.value)
            if isNeverIndexed(index) { converted.indexingStrategy = .disallow }
            result.append(converted)
        }
        return result
    }

    /// A field name as theirs: the predefined value for the names requests
    /// carry most (no allocation, no validation), else a new one (names
    /// arrive lowercase from both protocols, which `parsed` checks cheaply).
    static func httpTypesName(_ bytes: UnsafeRawBufferPointer) -> HTTPField.Name? {
        @inline(__always) func is_(_ name: StaticString) -> Bool { equal(bytes, span(name)) }
        switch bytes.count {
        case 2 where is_("te"): return .te
        case 5 where is_("range"): return .range
        case 6 where is_("accept"): return .accept
        case 6 where is_("cookie"): return .cookie
        case 6 where is_("origin"): return .origin
        case 6 where is_("expect"): return .expect
        case 7 where is_("referer"): return .referer
        case 8 where is_("priority"): return .priority
        case 10 where is_("user-agent"): return .userAgent
        case 12 where is_("content-type"): return .contentType
        case 13 where is_("authorization"): return .authorization
        case 13 where is_("cache-control"): return .cacheControl
        case 13 where is_("if-none-match"): return .ifNoneMatch
        case 14 where is_("content-length"): return .contentLength
        case 15 where is_("accept-encoding"): return .acceptEncoding
        case 15 where is_("accept-language"): return .acceptLanguage
        case 17 where is_("if-modified-since"): return .ifModifiedSince
        default:
            let text = String(decoding: bytes, as: UTF8.self)
            return HTTPField.Name(parsed: text) ?? HTTPField.Name(text)
        }
    }

    /// Appends swift-http-types fields (names as they spell them, which is
    /// lowercase for every name they parsed or predefine). A field whose
    /// `indexingStrategy` is `.disallow` is marked never-indexed: HTTP/2
    /// sends it as a never-indexed literal (RFC 7541 §6.2.3).
    public func append(_ fields: HTTPFields) {
        for field in fields {
            var name = field.name.canonicalName
            name.withUTF8 { nameBytes in
                field.withUnsafeBytesOfValue { valueBytes in
                    append(name: UnsafeRawBufferPointer(nameBytes), value: UnsafeRawBufferPointer(valueBytes),
                           neverIndexed: field.indexingStrategy == .disallow)
                }
            }
        }
    }
}

extension HTTPExchange {
    /// Sends `response`'s status and fields as the response head (or an
    /// informational head for a 1xx status, after which a final one
    /// follows). Fields already in `responseFields` come first. The reason
    /// phrase is not sent: HTTP/2 has none, and HTTP/1.1 writes the
    /// standard one.
    public func sendHead(_ response: HTTPResponse, endOfStream: Bool) {
        responseFields.append(response.headerFields)
        sendHead(status: response.status.code, endOfStream: endOfStream)
    }

    /// Ends the response with swift-http-types trailers.
    public func finish(trailers: HTTPFields) {
        let fields = HTTPFieldList(byteCapacity: 128, fieldCapacity: max(trailers.count, 1))
        fields.append(trailers)
        finish(trailers: fields)
    }
}
