@testable import SwiftletStatic
import Testing

/// Request targets as paths below the document root.
@Suite("Request targets as paths below the root")
struct RequestPathTests {
    static func normalized(_ target: String, slowly: Bool = false) -> Result<(path: String, trailingSlash: Bool), RequestPath.Problem> {
        var output: [UInt8] = [], scratch: [UInt8] = []
        let result = Array(target.utf8).withUnsafeBytes {
            slowly ? RequestPath.normalizeSegments($0, into: &output, scratch: &scratch)
                   : RequestPath.normalize($0, into: &output, scratch: &scratch)
        }
        return result.map { (String(decoding: output, as: UTF8.self), $0) }
    }

    static func path(_ target: String) -> String? {
        guard case .success(let found) = normalized(target) else { return nil }
        return found.path + (found.trailingSlash ? " /" : "")
    }

    static func problem(_ target: String) -> RequestPath.Problem? {
        guard case .failure(let problem) = normalized(target) else { return nil }
        return problem
    }

    @Test("Plain paths lose their leading slash; a trailing one is reported; the query and fragment are dropped")
    func plainPaths() {
        #expect(Self.path("/") == " /")
        #expect(Self.path("/index.html") == "index.html")
        #expect(Self.path("/docs/a.css?v=3") == "docs/a.css")
        #expect(Self.path("/docs/#top") == "docs /")
        #expect(Self.path("/docs/?") == "docs /")
        #expect(Self.path("/?q") == " /")
    }

    @Test("Escapes are decoded once, '.' and '..' resolved, empty segments dropped")
    func resolvedPaths() {
        #expect(Self.path("/a/./b//c") == "a/b/c")
        #expect(Self.path("/a/b/../c") == "a/c")
        #expect(Self.path("/%61%2Fb") == "a/b", "%2F separates segments")
        #expect(Self.path("/a/%2e%2e/b") == "b")
        #expect(Self.path("/%2541") == "%41", "decoded once, not twice")
        #expect(Self.path("/.well-known/x") == ".well-known/x")
    }

    @Test("Refused: climbing above the root, a NUL, a bad escape, a relative target")
    func refused() {
        #expect(Self.problem("/../etc/passwd") == .escapesRoot)
        #expect(Self.problem("/a/%2e%2e/%2e%2e/x") == .escapesRoot)
        #expect(Self.problem("/a%00b") == .nul)
        #expect(Self.problem("/a%zz") == .invalidEncoding)
        #expect(Self.problem("/a%4") == .invalidEncoding)
        #expect(Self.problem("a/b") == .notAbsolute)
        #expect(Self.problem("") == .notAbsolute)
        #expect(Self.problem("?x") == .notAbsolute)
    }

    @Test("The one-scan path and the segment-by-segment path agree on 20,000 targets made of '/', '.', '%', hex digits, letters, '?' and NUL")
    func shortcutAgrees() {
        let alphabet = Array("/./a%2e%2FA0?#b\u{0}/".utf8)
        var state: UInt64 = 9113
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        for _ in 0..<20_000 {
            var bytes: [UInt8] = [UInt8(ascii: "/")]
            for _ in 0..<next(12) { bytes.append(alphabet[next(alphabet.count)]) }
            let target = String(decoding: bytes, as: UTF8.self)
            let quick = Self.normalized(target), slow = Self.normalized(target, slowly: true)
            switch (quick, slow) {
            case (.success(let a), .success(let b)):
                #expect(a.path == b.path && a.trailingSlash == b.trailingSlash, "\(bytes)")
            case (.failure(let a), .failure(let b)):
                #expect(a == b, "\(bytes)")
            default:
                Issue.record("\(bytes): \(quick) vs \(slow)")
            }
        }
    }
}
