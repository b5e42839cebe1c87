import HTTPTypes
@testable import SwiftletHTTP
import Testing

@Suite("swift-http-types fields memo")
struct HTTPTypesFieldsMemoTests {
    static func list(_ fields: [(String, String, Bool)]) -> HTTPFieldList {
        let list = HTTPFieldList()
        for (name, value, neverIndexed) in fields {
            Array(name.utf8).withUnsafeBytes { n in
                Array(value.utf8).withUnsafeBytes { v in list.append(name: n, value: v, neverIndexed: neverIndexed) }
            }
        }
        return list
    }

    static let browser = [("user-agent", "test/1.0", false), ("accept", "*/*", false), ("accept-encoding", "gzip", false)]

    @Test("the same fields again are handed out from the memo, equal to a fresh conversion")
    func repeatHits() throws {
        let memo = HTTPTypesFieldsMemo()
        let first = try memo.fields(of: Self.list(Self.browser), skippingHost: false)
        let second = try memo.fields(of: Self.list(Self.browser), skippingHost: false)
        #expect(memo.misses == 1 && memo.hits == 1)
        #expect(second == first)
        #expect(second == (try Self.list(Self.browser).httpTypesFields()))
    }

    @Test("any difference is a miss: a value, a name, the order, one field more or less, the never-indexed mark, host skipping")
    func differencesMiss() throws {
        let variants: [[(String, String, Bool)]] = [
            [("user-agent", "test/1.1", false), ("accept", "*/*", false), ("accept-encoding", "gzip", false)],
            [("user-agenT", "test/1.0", false), ("accept", "*/*", false), ("accept-encoding", "gzip", false)],
            [("accept", "*/*", false), ("user-agent", "test/1.0", false), ("accept-encoding", "gzip", false)],
            [("user-agent", "test/1.0", false), ("accept", "*/*", false)],
            Self.browser + [("cookie", "a=1", false)],
            [("user-agent", "test/1.0", true), ("accept", "*/*", false), ("accept-encoding", "gzip", false)],
            [("user-agent", "test/1.0", false), ("accept", "*/*a", false), ("accept-encoding", "gzip", false)],
            [("user-agent", "test/1.0", false), ("accept", "*/", false), ("accept-encoding", "gzip", false)],
        ]
        for variant in variants {
            let memo = HTTPTypesFieldsMemo()
            _ = try memo.fields(of: Self.list(Self.browser), skippingHost: false)
            let fields = try memo.fields(of: Self.list(variant), skippingHost: false)
            #expect(memo.hits == 0, "\(variant)")
            #expect(fields == (try Self.list(variant).httpTypesFields()))
            #expect(fields.map(\.indexingStrategy) == variant.map { $0.2 ? .disallow : .automatic })
        }
        let memo = HTTPTypesFieldsMemo()
        let withHost = Self.browser + [("host", "example.com", false)]
        _ = try memo.fields(of: Self.list(withHost), skippingHost: false)
        let skipped = try memo.fields(of: Self.list(withHost), skippingHost: true)
        #expect(memo.hits == 0)
        #expect(skipped.count == Self.browser.count && !skipped.contains { $0.name.canonicalName == "host" })
    }

    @Test("no fields at all is kept and matched like any other list")
    func emptyList() throws {
        let memo = HTTPTypesFieldsMemo()
        #expect(try memo.fields(of: HTTPFieldList(), skippingHost: false).isEmpty)
        #expect(try memo.fields(of: HTTPFieldList(), skippingHost: false).isEmpty)
        #expect(memo.hits == 1)
        _ = try memo.fields(of: Self.list(Self.browser), skippingHost: false)
        #expect(memo.hits == 1)
    }

    @Test("it keeps the most recently used lists, at most `capacity`")
    func recency() throws {
        let memo = HTTPTypesFieldsMemo()
        let lists = (0...HTTPTypesFieldsMemo.capacity).map { Self.list([("x-n", "\($0)", false)]) }
        for list in lists.dropLast() { _ = try memo.fields(of: list, skippingHost: false) }
        _ = try memo.fields(of: lists[0], skippingHost: false)  // used again: now the newest
        #expect(memo.hits == 1)
        _ = try memo.fields(of: lists.last!, skippingHost: false)  // pushes out the oldest, lists[1]
        _ = try memo.fields(of: lists[0], skippingHost: false)
        #expect(memo.hits == 2)
        _ = try memo.fields(of: lists[1], skippingHost: false)
        #expect(memo.hits == 2 && memo.misses == HTTPTypesFieldsMemo.capacity + 2)
    }

    @Test("a list over maximumKeyBytes is converted every time and not kept")
    func largeListsAreNotKept() throws {
        let memo = HTTPTypesFieldsMemo()
        let large = Self.list([("cookie", String(repeating: "a", count: HTTPTypesFieldsMemo.maximumKeyBytes), false)])
        let fields = try memo.fields(of: large, skippingHost: false)
        _ = try memo.fields(of: large, skippingHost: false)
        #expect(memo.hits == 0 && memo.misses == 2)
        #expect(fields[.cookie]?.utf8.count == HTTPTypesFieldsMemo.maximumKeyBytes)
    }

    @Test("a handler's change to the fields it was given does not reach the memo")
    func valueSemantics() throws {
        let memo = HTTPTypesFieldsMemo()
        var first = try memo.fields(of: Self.list(Self.browser), skippingHost: false)
        first[.accept] = "text/html"
        first.append(HTTPField(name: .cookie, value: "a=1"))
        let second = try memo.fields(of: Self.list(Self.browser), skippingHost: false)
        #expect(memo.hits == 1)
        #expect(second[.accept] == "*/*" && second[.cookie] == nil)
    }

    @Test("a name that is not a token still fails, every time")
    func invalidNameThrows() {
        let memo = HTTPTypesFieldsMemo()
        let bad = Self.list([("bad name", "x", false)])
        #expect(throws: HTTPTypesConversionError.self) { try memo.fields(of: bad, skippingHost: false) }
        #expect(throws: HTTPTypesConversionError.self) { try memo.fields(of: bad, skippingHost: false) }
        #expect(memo.hits == 0)
    }

    @Test("httpTypesRequest with a memo: the same request as without one")
    func requestWithMemo() throws {
        let memo = HTTPTypesFieldsMemo()
        for path in ["/a", "/b"] {
            let head = HTTPRequestHead()
            for (which, value) in [(HTTPRequestHead.Pseudo.method, "GET"), (.scheme, "https"), (.authority, "example.com"), (.path, path)] {
                Array(value.utf8).withUnsafeBytes { head.setPseudo(which, $0) }
            }
            for (name, value, neverIndexed) in Self.browser {
                Array(name.utf8).withUnsafeBytes { n in Array(value.utf8).withUnsafeBytes { v in head.fields.append(name: n, value: v, neverIndexed: neverIndexed) } }
            }
            #expect(try head.httpTypesRequest(fieldsMemo: memo) == head.httpTypesRequest())
        }
        #expect(memo.hits == 1)
    }
}
