import SwiftletHTTP2
import SwiftletLoop
import SwiftletTestSupport
import Testing

/// RFC 9113 §8.2-§8.3: malformed requests are stream errors of type
/// PROTOCOL_ERROR (§8.1.1); the connection carries on.
@Suite("RFC 9113 §8.2-§8.3: request validation", .serialized)
struct RequestValidationTests {
    let server: TestServer
    init() throws { server = try TestServer() }

    func malformed(_ fields: [(String, String)], token: String, endStream: Bool = true,
                   sourceLocation: SourceLocation = #_sourceLocation) throws {
        try server.expectStreamError({ $0.headers(stream: 1, fields, endStream: endStream) }, stream: 1, code: .protocolError,
                                     token: token, sourceLocation: sourceLocation)
        #expect(!server.events.contains { $0.hasPrefix("start") }, "the handler never saw it", sourceLocation: sourceLocation)
    }

    @Test("§8.2.1 uppercase field names")
    func uppercaseName() throws { try malformed(FrameClient.get("/", extra: [("Accept", "*/*")]), token: "uppercase_header_name") }

    @Test("§8.2.1 invalid characters in field names", arguments: ["a b", "a:b", "tab\t", "ütf"])
    func invalidNameCharacters(name: String) throws {
        try malformed(FrameClient.get("/", extra: [(name, "1")]), token: "invalid_header_name")
    }

    @Test("CVE-2019-9516: an empty field name")
    func emptyName() throws { try malformed(FrameClient.get("/", extra: [("", "x")]), token: "empty_header_name") }

    @Test("§8.2.1 NUL, CR or LF in a field value", arguments: ["a\u{0}b", "a\rb", "a\nb"])
    func invalidValue(value: String) throws {
        try malformed(FrameClient.get("/", extra: [("x-v", value)]), token: "invalid_header_value")
    }

    @Test("§8.2.1 leading or trailing whitespace in a field value", arguments: [" a", "a ", "\ta", "a\t"])
    func valueWhitespace(value: String) throws {
        try malformed(FrameClient.get("/", extra: [("x-v", value)]), token: "header_value_whitespace")
    }

    @Test("§8.2.2 connection-specific fields", arguments: ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"])
    func connectionSpecific(name: String) throws {
        try malformed(FrameClient.get("/", extra: [(name, "x")]), token: "connection_specific_header")
    }

    @Test("§8.2.2 te other than trailers")
    func teNotTrailers() throws { try malformed(FrameClient.get("/", extra: [("te", "gzip")]), token: "te_not_trailers") }

    @Test("§8.2.2 te: trailers is allowed; cookie crumbs are allowed")
    func teTrailersAndCookies() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.get("/fields", extra: [("te", "trailers"), ("cookie", "a=1"), ("cookie", "b=2")]), endStream: true))
        let response = try client.response(stream: 1)
        #expect(response.fields.first { $0.name == "x-field-count" }?.value == "3")
    }

    @Test("§8.3 a missing :method, :scheme or :path", arguments: [":method", ":scheme", ":path"])
    func missingPseudo(name: String) throws {
        try malformed(FrameClient.get("/").filter { $0.0 != name }, token: "missing_pseudo_header")
    }

    @Test("§8.3 a repeated pseudo-header field")
    func duplicatePseudo() throws {
        try malformed([(":method", "GET"), (":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "a")], token: "duplicate_pseudo_header")
    }

    @Test("§8.3 an undefined pseudo-header field (including :protocol, not enabled)", arguments: [":foo", ":protocol", ":status"])
    func unknownPseudo(name: String) throws {
        try malformed(FrameClient.get("/") + [(name, "x")], token: "unknown_pseudo_header")
    }

    @Test("§8.3 a pseudo-header after a regular field")
    func pseudoAfterRegular() throws {
        try malformed([(":method", "GET"), (":scheme", "http"), ("x-a", "1"), (":path", "/"), (":authority", "a")], token: "pseudo_header_after_regular")
    }

    @Test("§8.3 a pseudo-header in trailers")
    func pseudoInTrailers() throws {
        try server.expectStreamError({ c in c.headers(stream: 1, FrameClient.post("/echo")) + c.headers(stream: 1, [(":path", "/x")], endStream: true) },
                                     stream: 1, code: .protocolError, token: "pseudo_header_in_trailers")
    }

    @Test("§8.3.1 an empty :path")
    func emptyPath() throws {
        try malformed([(":method", "GET"), (":scheme", "https"), (":path", ""), (":authority", "a")], token: "empty_path")
    }

    @Test("§8.3.1 a :path that is neither absolute nor * for OPTIONS", arguments: ["index.html", "*"])
    func relativePath(path: String) throws {
        try malformed([(":method", "GET"), (":scheme", "https"), (":path", path), (":authority", "a")], token: "invalid_path")
    }

    @Test("§8.3.1 OPTIONS * is allowed")
    func optionsAsterisk() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, [(":method", "OPTIONS"), (":scheme", "https"), (":path", "*"), (":authority", "a")], endStream: true))
        #expect(try client.response(stream: 1).status == "404")
    }

    @Test("§8.3.1 neither :authority nor host; an empty one; both differing")
    func authority() throws {
        try malformed([(":method", "GET"), (":scheme", "https"), (":path", "/")], token: "missing_authority")
        try malformed([(":method", "GET"), (":scheme", "https"), (":path", "/"), (":authority", "")], token: "empty_authority")
        try malformed([(":method", "GET"), (":scheme", "https"), (":path", "/"), (":authority", "a"), ("host", "b")], token: "authority_host_mismatch")
    }

    @Test("§8.3.1 host alone is enough")
    func hostOnly() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, [(":method", "GET"), (":scheme", "https"), (":path", "/hello"), ("host", "example.com")], endStream: true))
        #expect(try client.response(stream: 1).status == "200")
    }

    @Test("§8.5 CONNECT must have :authority and no :scheme or :path")
    func connect() throws {
        try malformed([(":method", "CONNECT"), (":authority", "a:443"), (":path", "/")], token: "connect_with_path")
        try malformed([(":method", "CONNECT")], token: "connect_without_authority")
    }

    @Test("§8.1.1 a non-numeric or conflicting content-length", arguments: [["x"], ["1", "2"]])
    func invalidContentLength(values: [String]) throws {
        try malformed(FrameClient.post("/echo") + values.map { ("content-length", $0) }, token: "invalid_content_length", endStream: false)
    }

    @Test("§8.1.1 content-length with END_STREAM on HEADERS and no DATA")
    func contentLengthWithoutData() throws {
        try malformed(FrameClient.post("/echo", extra: [("content-length", "10")]), token: "content_length_mismatch")
    }
}
