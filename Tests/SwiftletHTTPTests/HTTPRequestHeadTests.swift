import SwiftletHTTP
import Testing

@Suite("HTTPRequestHead: pseudo-header values")
struct HTTPRequestHeadTests {
    func set(_ head: HTTPRequestHead, _ which: HTTPRequestHead.Pseudo, _ value: String) {
        Array(value.utf8).withUnsafeBytes { head.setPseudo(which, $0) }
    }

    @Test("Each value reads back; absent ones are nil (the authority falls back to host); reset clears them for the next request")
    func valuesAndReset() {
        let head = HTTPRequestHead()
        #expect(head.schemeBytes == nil && head.protocolBytes == nil && head.authority == nil && head.method == "")
        set(head, .method, "CONNECT")
        set(head, .scheme, "https")
        set(head, .authority, "example.com")
        set(head, .path, "/chat")
        set(head, .protocol, "websocket")
        #expect(head.method == "CONNECT" && head.scheme == "https" && head.authority == "example.com" && head.path == "/chat")
        #expect(head.protocolBytes.map { String(decoding: $0, as: UTF8.self) } == "websocket")
        #expect(head.methodIs("CONNECT") && !head.methodIs("GET"))
        head.reset()
        #expect(head.schemeBytes == nil && head.protocolBytes == nil && head.method == "" && head.path == "")
        head.fields.append(name: "host", value: "fallback.example")
        #expect(head.authority == "fallback.example")
        set(head, .method, "GET")
        #expect(head.method == "GET")
    }

    @Test("A value longer than the buffer grows it and keeps the values before it")
    func growth() {
        let head = HTTPRequestHead()
        set(head, .method, "GET")
        set(head, .authority, "a.example")
        let long = "/" + String(repeating: "p", count: 5000)
        set(head, .path, long)
        set(head, .scheme, "http")
        #expect(head.method == "GET" && head.authority == "a.example" && head.path == long && head.scheme == "http")
    }

    @Test("Empty values are present, not absent")
    func emptyValues() {
        let head = HTTPRequestHead()
        set(head, .scheme, "")
        #expect(head.schemeBytes?.count == 0)
    }
}
