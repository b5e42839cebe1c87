@testable import SwiftletServer
import Testing

/// What the first bytes of a cleartext connection select.
@Suite("First bytes: HTTP/2 preface, HTTP/1.x request line, or neither")
struct FirstBytesTests {
    func classify(_ text: String) -> FirstBytes {
        Array(text.utf8).withUnsafeBytes { FirstBytes.classify($0) }
    }

    @Test("the HTTP/2 preface, whole or in part")
    func preface() {
        #expect(classify("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == .http2)
        #expect(classify("PRI * HTTP/2.0\r\n") == .needMore)
        #expect(classify("PR") == .needMore)
    }

    @Test("an HTTP/1.x request line, whole or in part", arguments: [
        "GET / HTTP/1.1\r\n", "GET / HTTP/1.0\n", "\r\nPOST /x HTTP/1.1\r\nhost: a\r\n\r\n",
        // A version HTTP/1.1 does not speak still gets HTTP/1.1's 505.
        "GET / HTTP/2.0\r\n", "GET / HTTP/3.0\r\n",
    ])
    func http1(line: String) {
        #expect(classify(line) == .http1)
    }

    @Test("an unfinished first line waits", arguments: ["GET / HTTP/1.1", "G", "\r\n"])
    func unfinished(text: String) {
        #expect(classify(text) == .needMore)
    }

    @Test("a first line without an HTTP version is an invalid HTTP/2 preface", arguments: [
        "INVALID CONNECTION PREFACE\r\n\r\n", "GET /\r\n", "hello\n", "GET / HTTP/1.1x\r\n", "GET / http/1.1\r\n",
    ])
    func invalidPreface(text: String) {
        #expect(classify(text) == .invalidPreface)
    }

    @Test("a first line longer than the look-ahead is left to HTTP/1.1 (which answers 414 or 431)")
    func longLine() {
        #expect(classify("GET /" + String(repeating: "a", count: FirstBytes.lineLimit)) == .http1)
    }
}
