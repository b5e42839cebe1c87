import SwiftletHTTP

/// A content coding a precompressed sibling file can have: `file.br`,
/// `file.zst`, `file.gz` (RFC 9110 §8.4.1; zstd is RFC 8878).
public enum ContentCoding: String, CaseIterable, Sendable {
    case brotli = "br"
    case zstd
    case gzip

    /// The sibling file's suffix.
    var suffix: String {
        switch self {
        case .brotli: ".br"
        case .zstd: ".zst"
        case .gzip: ".gz"
        }
    }

    /// The `content-encoding` value.
    var token: StaticString {
        switch self {
        case .brotli: "br"
        case .zstd: "zstd"
        case .gzip: "gzip"
        }
    }

    /// The case's position in `allCases` (and in CSwiftletCompression).
    var index: Int {
        switch self {
        case .brotli: 0
        case .zstd: 1
        case .gzip: 2
        }
    }

    /// At equal quality: smallest output first.
    public static let preference: [ContentCoding] = [.brotli, .zstd, .gzip]
}

/// What a request's `accept-encoding` allows (RFC 9110 §12.5.3):
///
///     accept-encoding: br;q=1.0, gzip;q=0.8, *;q=0.1, identity;q=0.5
///
/// A coding's quality is its own entry's, else the `*` entry's, else 0 (not
/// acceptable). `identity` is acceptable unless given q=0, or `*;q=0`
/// without an identity entry.
public struct AcceptEncoding {
    /// Qualities in thousandths (`q=0.8` is 800), per `ContentCoding` case
    /// (by `index`; a SIMD value, so parsing a header allocates nothing).
    private var quality = SIMD4<Int32>(repeating: 0)
    /// `identity`'s quality when the header names it (or `*` covers it).
    private var identity: Int?

    public init(_ header: UnsafeRawBufferPointer) {
        var wildcard: Int?
        var named = SIMDMask<SIMD4<Int32>>(repeating: false)
        ASCII.forEachListElement(header) { item in
            guard let (name, q) = Self.parseItem(item) else { return }
            if let coding = Self.coding(named: name) {
                // The highest quality if a coding is named twice.
                quality[coding.index] = max(named[coding.index] ? quality[coding.index] : 0, Int32(q))
                named[coding.index] = true
            } else if ASCII.equalIgnoringCase(name, "identity") {
                identity = q
            } else if name.count == 1 && name[0] == UInt8(ascii: "*") {
                wildcard = q
            }
        }
        if let wildcard {
            quality.replace(with: Int32(wildcard), where: .!named)
            if identity == nil && wildcard == 0 { identity = 0 }
        }
    }

    private static func coding(named name: UnsafeRawBufferPointer) -> ContentCoding? {
        if ASCII.equalIgnoringCase(name, "br") { return .brotli }
        if ASCII.equalIgnoringCase(name, "zstd") { return .zstd }
        // "A recipient SHOULD consider "x-gzip" to be equivalent to "gzip"" (§8.4.1.3)
        if ASCII.equalIgnoringCase(name, "gzip") || ASCII.equalIgnoringCase(name, "x-gzip") { return .gzip }
        return nil
    }

    /// The quality (0...1000) given to `coding`.
    public func quality(of coding: ContentCoding) -> Int {
        Int(quality[coding.index])
    }

    /// Whether the unencoded representation is acceptable.
    public var acceptsIdentity: Bool { identity != 0 }

    /// The coding to serve among `available`: the highest quality above 0,
    /// ties broken by `preference`; nil serves the file as it is (nothing
    /// acceptable, or identity asked for with a higher quality).
    public func preferred(among available: [ContentCoding], preference: [ContentCoding] = ContentCoding.preference) -> ContentCoding? {
        preferred(preference: preference) { available.contains($0) }
    }

    /// The same, asking `isAvailable` (no array per request).
    public func preferred(preference: [ContentCoding] = ContentCoding.preference, isAvailable: (ContentCoding) -> Bool) -> ContentCoding? {
        var best: ContentCoding?
        var bestQuality = 0
        for coding in preference where isAvailable(coding) {
            let q = quality(of: coding)
            if q > bestQuality {
                best = coding
                bestQuality = q
            }
        }
        if let identity, identity > bestQuality { return nil }
        return best
    }

    /// `name;q=0.5;other=x` → (name, 500). Missing or malformed q is 1.
    private static func parseItem(_ item: UnsafeRawBufferPointer) -> (UnsafeRawBufferPointer, Int)? {
        var end = 0
        while end < item.count && item[end] != UInt8(ascii: ";") { end += 1 }
        let name = trim(UnsafeRawBufferPointer(rebasing: item[0..<end]))
        guard !name.isEmpty else { return nil }
        var q = 1000
        while end < item.count {
            let start = end + 1
            end = start
            while end < item.count && item[end] != UInt8(ascii: ";") { end += 1 }
            let pair = trim(UnsafeRawBufferPointer(rebasing: item[start..<end]))
            guard pair.count >= 2, pair[0] | 0x20 == UInt8(ascii: "q"), pair[1] == UInt8(ascii: "=") else { continue }
            q = parseQuality(UnsafeRawBufferPointer(rebasing: pair[2...])) ?? 1000
        }
        return (name, q)
    }

    /// RFC 9110 §12.4.2: `0[.ddd]` or `1[.000]`, in thousandths.
    static func parseQuality(_ text: UnsafeRawBufferPointer) -> Int? {
        guard let first = text.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return nil }
        var value = Int(first - UInt8(ascii: "0")) * 1000
        guard text.count > 1 else { return value }
        guard text[1] == UInt8(ascii: "."), text.count <= 5 else { return nil }
        var scale = 100
        for digit in text.dropFirst(2) {
            guard digit >= UInt8(ascii: "0") && digit <= UInt8(ascii: "9") else { return nil }
            value += Int(digit - UInt8(ascii: "0")) * scale
            scale /= 10
        }
        return value <= 1000 ? value : nil
    }

    private static func trim(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0
        var end = bytes.count
        while start < end && ASCII.isWhitespace(bytes[start]) { start += 1 }
        while end > start && ASCII.isWhitespace(bytes[end - 1]) { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }
}
