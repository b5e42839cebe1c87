import SwiftletHTTP
import Testing

@Suite("HTTPFieldList: own fields and shared ones")
struct HTTPFieldListTests {
    func names(_ fields: HTTPFieldList) -> [String] { fields.strings.map(\.name) }

    @Test("shared fields come first in count, indexes, lookups and strings, and are not copied")
    func sharedFirst() {
        let head = HTTPFieldList()
        head.append("server", "swiftlet")
        head.append("content-type", "text/html")
        let response = HTTPFieldList()
        response.appendShared(head)
        response.append("date", "Tue, 01 Dec 2026 14:39:10 GMT")
        #expect(response.count == 3)
        #expect(response.ownCount == 1)
        #expect(names(response) == ["server", "content-type", "date"])
        #expect(response.value(of: "Content-Type") == "text/html")
        #expect(response.value(of: "date") == "Tue, 01 Dec 2026 14:39:10 GMT")
        #expect(response.byteCount == head.byteCount + "date".utf8.count + 29)
        #expect(response.shared === head)
        #expect(String(decoding: response.own(0).name, as: UTF8.self) == "date")
    }

    @Test("on a list that already has fields, or from a list that shares, the fields are copied")
    func copiedWhenNotFirst() {
        let head = HTTPFieldList()
        head.append("server", "swiftlet")
        let response = HTTPFieldList()
        response.append("date", "Tue, 01 Dec 2026 14:39:10 GMT")
        response.appendShared(head)
        #expect(response.shared == nil)
        #expect(names(response) == ["date", "server"])
        let sharing = HTTPFieldList()
        sharing.appendShared(head)
        sharing.append("vary", "accept-encoding")
        let other = HTTPFieldList()
        other.appendShared(sharing)
        #expect(other.shared == nil)
        #expect(names(other) == ["server", "vary"])
    }

    @Test("removeAll forgets the shared fields too; the shared list is untouched")
    func removeAll() {
        let head = HTTPFieldList()
        head.append("server", "swiftlet")
        let response = HTTPFieldList()
        response.appendShared(head)
        response.removeAll()
        #expect(response.isEmpty)
        #expect(response.shared == nil)
        #expect(head.count == 1)
    }

    @Test("a protocol's cache is kept while the fields stay, and dropped when they change")
    func encodingCache() {
        final class Derived {}
        let head = HTTPFieldList()
        head.append("server", "swiftlet")
        let derived = Derived()
        head.encodingCache = derived
        #expect(head.encodingCache === derived)
        head.append("vary", "accept-encoding")
        #expect(head.encodingCache == nil)
        head.encodingCache = derived
        head.removeAll()
        #expect(head.encodingCache == nil)
    }

    @Test("listContains: elements of every line of a field, compared without case (RFC 9110 §5.3, §5.6.1)")
    func listElements() {
        let request = HTTPFieldList()
        request.append("connection", "keep-alive , Upgrade")
        request.append("upgrade", "h2c")
        request.append("upgrade", "WebSocket, foo/2")
        #expect(request.listContains("connection", element: HTTPFieldList.span("upgrade")))
        #expect(request.listContains("upgrade", element: HTTPFieldList.span("websocket")))
        #expect(request.listContains("upgrade", element: HTTPFieldList.span("FOO/2")))
        #expect(!request.listContains("upgrade", element: HTTPFieldList.span("foo")))
        #expect(!request.listContains("upgrade", element: HTTPFieldList.span("web")))
        #expect(!request.listContains("connection", element: HTTPFieldList.span("close")))
        #expect(!request.listContains("te", element: HTTPFieldList.span("trailers")))
    }

    @Test("equal: spans of every length up to 40 differing in any one byte are unequal, and equal ones equal")
    func equalComparesEveryByte() {
        for count in 0...40 {
            let a = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            a.withUnsafeBytes { x in
                // A copy elsewhere in memory: equal.
                Array(a).withUnsafeBytes { y in #expect(HTTPFieldList.equal(x, y), "\(count) bytes") }
                for position in 0..<count {
                    var b = a
                    b[position] ^= 0x20  // a case flip: what a careless comparison might miss
                    b.withUnsafeBytes { y in #expect(!HTTPFieldList.equal(x, y), "byte \(position) of \(count)") }
                }
                if count > 0 {
                    a.dropLast().withUnsafeBytes { y in #expect(!HTTPFieldList.equal(x, y), "a prefix of \(count) bytes") }
                }
            }
        }
    }

    @Test("first finds every name present among 300, own or shared, however their name bits collide; after removeAll none")
    func firstFindsEveryName() {
        let names = (0..<300).map { "x-\($0 % 7 == 0 ? "a" : "bc")-\($0)" }
        let shared = HTTPFieldList()
        for name in names.prefix(100) { shared.append(name: name, value: "s") }
        let fields = HTTPFieldList()
        fields.appendShared(shared)
        for name in names.dropFirst(100) { fields.append(name: name, value: "o") }
        for (position, name) in names.enumerated() {
            #expect(fields.value(of: name) == (position < 100 ? "s" : "o"), "\(name)")
        }
        #expect(fields.value(of: "x-absent") == nil)
        fields.removeAll()
        #expect(fields.value(of: names[150]) == nil && fields.value(of: names[0]) == nil)
        fields.append(name: "te", value: "trailers")
        #expect(fields.listContains("te", element: HTTPFieldList.span("trailers")))
    }
}
