@testable import SwiftletStatic
import Testing

@Suite("accept-encoding (RFC 9110 §12.5.3): which precompressed sibling to serve")
struct AcceptEncodingTests {
    static let all = ContentCoding.preference

    static func choose(_ header: String, among available: [ContentCoding] = all) -> ContentCoding? {
        Array(header.utf8).withUnsafeBytes { AcceptEncoding($0).preferred(among: available) }
    }

    static func accept(_ header: String) -> AcceptEncoding {
        Array(header.utf8).withUnsafeBytes { AcceptEncoding($0) }
    }

    @Test("at equal quality: br, then zstd, then gzip; only among the siblings that exist")
    func preference() {
        #expect(Self.choose("gzip, deflate, br, zstd") == .brotli)
        #expect(Self.choose("gzip, zstd") == .zstd)
        #expect(Self.choose("gzip, br, zstd", among: [.zstd, .gzip]) == .zstd)
        #expect(Self.choose("gzip", among: [.brotli, .zstd]) == nil)
        #expect(Self.choose("deflate") == nil)
    }

    @Test("a higher quality wins over the preference; q=0 refuses")
    func qualities() {
        #expect(Self.choose("br;q=0.5, gzip;q=0.9") == .gzip)
        #expect(Self.choose("br;q=0, zstd;q=0") == nil)
        #expect(Self.choose("br;q=0, gzip") == .gzip)
        #expect(Self.choose("br;q=0.001") == .brotli)
        #expect(Self.choose("br;q=0.5, zstd;q=0.500") == .brotli, "equal: preference")
        #expect(Self.choose("BR;Q=1, Gzip;q=0.2") == .brotli, "case-insensitive")
    }

    @Test("the wildcard covers codings not named; identity preferred when it asks for more")
    func wildcardAndIdentity() {
        #expect(Self.choose("*") == .brotli)
        #expect(Self.choose("*;q=0.3, gzip;q=0.5") == .gzip)
        #expect(Self.choose("br;q=0, *") == .zstd)
        #expect(Self.choose("identity;q=1, br;q=0.5") == nil)
        #expect(Self.choose("identity;q=0.1, br;q=0.5") == .brotli)
        #expect(Self.choose("x-gzip", among: [.gzip]) == .gzip)
        #expect(!Self.accept("*;q=0").acceptsIdentity)
        #expect(Self.accept("*;q=0, identity").acceptsIdentity)
        #expect(!Self.accept("identity;q=0").acceptsIdentity)
        #expect(Self.accept("gzip").acceptsIdentity)
    }

    @Test("qualities: 0, 1, up to three decimals; malformed ones count as 1, an empty header accepts nothing")
    func qualityValues() {
        for (text, value) in [("0", 0), ("1", 1000), ("0.5", 500), ("0.25", 250), ("0.125", 125), ("1.000", 1000)] {
            #expect(Array(text.utf8).withUnsafeBytes { AcceptEncoding.parseQuality($0) } == value, "\(text)")
        }
        for text in ["2", "0.1234", "1.5", "-0", "", ".5", "0,5"] {
            #expect(Array(text.utf8).withUnsafeBytes { AcceptEncoding.parseQuality($0) } == nil, "\(text)")
        }
        #expect(Self.accept("br;q=abc").quality(of: .brotli) == 1000)
        #expect(Self.choose("") == nil)
        #expect(Self.choose(" , ;q=1, br ; q=0.4 ") == .brotli)
    }
}
