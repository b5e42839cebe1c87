import SwiftletHTTP
import Testing

@Suite("ASCII helpers shared by HTTP/1.1 and HTTP/2")
struct ASCIITests {
    func bytes<R>(_ text: String, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        Array(text.utf8).withUnsafeBytes(body)
    }

    @Test("case-insensitive comparison folds letters only")
    func equalIgnoringCase() {
        #expect(bytes("Keep-Alive") { ASCII.equalIgnoringCase($0, "keep-alive") })
        #expect(bytes("CLOSE") { ASCII.equalIgnoringCase($0, "close") })
        // CR (0x0D) | 0x20 is '-' (0x2D): folding by OR-ing 0x20 would say equal.
        #expect(!bytes("keep\ralive") { ASCII.equalIgnoringCase($0, "keep-alive") })
        #expect(!bytes("@") { ASCII.equalIgnoringCase($0, "`") })
        #expect(!bytes("clos") { ASCII.equalIgnoringCase($0, "close") })
    }

    @Test("content-length: 1*DIGIT, at most 18 digits", arguments: [
        ("0", 0), ("42", 42), ("123456789012345678", 123_456_789_012_345_678),
    ])
    func lengths(text: String, value: Int) {
        #expect(bytes(text) { ASCII.parseLength($0) } == value)
    }

    @Test("content-length: anything else is nil", arguments: ["", "-1", "+1", " 1", "1 ", "1e3", "0x10", "1234567890123456789"])
    func badLengths(text: String) {
        #expect(bytes(text) { ASCII.parseLength($0) } == nil)
    }

    @Test("list elements are trimmed of OWS and empty ones skipped (RFC 9110 §5.6.1)")
    func listElements() {
        let elements = bytes(" close ,, \tkeep-alive\t,upgrade,") { value -> [String] in
            var found: [String] = []
            ASCII.forEachListElement(value) { found.append(String(decoding: $0, as: UTF8.self)) }
            return found
        }
        #expect(elements == ["close", "keep-alive", "upgrade"])
        #expect(bytes("") { value -> Int in
            var count = 0
            ASCII.forEachListElement(value) { _ in count += 1 }
            return count
        } == 0)
    }

    @Test("tchar")
    func tokenCharacters() {
        #expect("GET!#$%&'*+-.^_`|~09azAZ".utf8.allSatisfy(ASCII.isTokenCharacter))
        #expect(!" \t\"(),/:;<=>?@[\\]{}\u{7F}".utf8.contains(where: ASCII.isTokenCharacter))
    }

    @Test("a status must be three digits")
    func statuses() {
        #expect(HTTPStatus.isValid(100) && HTTPStatus.isValid(200) && HTTPStatus.isValid(999))
        #expect(!HTTPStatus.isValid(99) && !HTTPStatus.isValid(1000) && !HTTPStatus.isValid(-200))
        #expect(HTTPStatus.checked(404) == 404)
    }
}
