import HTTPTypes
import SwiftletHTTP
import Testing

@Suite("swift-http-types conversions")
struct HTTPTypesInteropTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// A request head as the HTTP/2 layer records it.
    static func http2Head() -> HTTPRequestHead {
        let head = HTTPRequestHead()
        for (which, value) in [(HTTPRequestHead.Pseudo.method, "POST"), (.scheme, "https"), (.authority, "example.com"), (.path, "/a?b=1")] {
            bytes(value).withUnsafeBytes { head.setPseudo(which, $0) }
        }
        return head
    }

    static func append(_ fields: HTTPFieldList, _ name: String, _ value: String, neverIndexed: Bool = false) {
        bytes(name).withUnsafeBytes { n in bytes(value).withUnsafeBytes { v in fields.append(name: n, value: v, neverIndexed: neverIndexed) } }
    }

    @Test("an HTTP/2 head: pseudo-fields become method, scheme, authority and path; fields keep their order and never-indexed mark")
    func http2Request() throws {
        let head = Self.http2Head()
        Self.append(head.fields, "accept", "*/*")
        Self.append(head.fields, "authorization", "Bearer x", neverIndexed: true)
        Self.append(head.fields, "accept", "text/html")
        Self.append(head.fields, "x-request-id", "42")  // a name without a predefined value
        let request = try head.httpTypesRequest()
        #expect(request.method == .post)
        #expect(request.scheme == "https")
        #expect(request.authority == "example.com")
        #expect(request.path == "/a?b=1")
        #expect(request.headerFields.map(\.name.canonicalName) == ["accept", "authorization", "accept", "x-request-id"])
        #expect(request.headerFields[HTTPField.Name("x-request-id")!] == "42")
        #expect(request.headerFields[values: .accept] == ["*/*", "text/html"])
        #expect(request.headerFields.map(\.indexingStrategy) == [.automatic, .disallow, .automatic, .automatic])
    }

    @Test("an HTTP/1.1 head: the host field becomes the authority")
    func http1Request() throws {
        let head = HTTPRequestHead()
        Self.bytes("GET").withUnsafeBytes { head.setPseudo(.method, $0) }
        Self.bytes("/").withUnsafeBytes { head.setPseudo(.path, $0) }
        Self.append(head.fields, "host", "example.org:8080")
        Self.append(head.fields, "user-agent", "curl")
        let request = try head.httpTypesRequest()
        #expect(request.authority == "example.org:8080")
        #expect(request.headerFields.map(\.name.canonicalName) == ["user-agent"])
    }

    @Test("an extended CONNECT keeps its :protocol (RFC 8441)")
    func extendedConnect() throws {
        let head = HTTPRequestHead()
        for (which, value) in [(HTTPRequestHead.Pseudo.method, "CONNECT"), (.protocol, "websocket"), (.scheme, "https"),
                               (.authority, "example.com"), (.path, "/chat")] {
            Self.bytes(value).withUnsafeBytes { head.setPseudo(which, $0) }
        }
        #expect(try head.httpTypesRequest().extendedConnectProtocol == "websocket")
    }

    @Test("a method that is not a token is refused with a reason naming it")
    func badMethod() {
        let head = HTTPRequestHead()
        Self.bytes("G T").withUnsafeBytes { head.setPseudo(.method, $0) }
        #expect {
            try head.httpTypesRequest()
        } throws: { error in
            (error as? HTTPTypesConversionError)?.description == "the method \"G T\" is not a token"
        }
    }

    @Test("their fields appended to a field list: names, values, order, and .disallow as never-indexed")
    func appendFields() throws {
        var fields = HTTPFields()
        fields[.contentType] = "text/plain"
        var cookie = HTTPField(name: .setCookie, value: "id=1")
        cookie.indexingStrategy = .disallow
        fields.append(cookie)
        fields.append(HTTPField(name: .cacheControl, value: "no-store"))
        let list = HTTPFieldList()
        list.append(fields)
        #expect(list.strings.map { "\($0.name): \($0.value)" } == ["content-type: text/plain", "set-cookie: id=1", "cache-control: no-store"])
        #expect((0..<list.count).map(list.isNeverIndexed) == [false, true, false])
        #expect(try list.httpTypesFields() == fields)
    }
}
