import SwiftletHTTP

/// How `StaticFileHandler` compresses files on the fly: files of a
/// compressible type, at least `minimumSize` bytes, with no precompressed
/// sibling, requested by a client whose `accept-encoding` prefers one of
/// `codings` to the file as it is.
///
/// Compressed bytes live in `cache`, shared by every copy of these
/// settings (so by every loop of a server whose handlers were made from
/// one configuration): a file version is compressed once per coding.
/// Files up to `inlineLimit` are compressed on the loop that first asks
/// for them (about a millisecond at the default levels for 16 KiB); larger
/// ones on a compression thread, while the requests for them wait parked.
public struct CompressionSettings: Sendable {
    /// Compress at all.
    public var enabled = true
    /// The codings offered, most preferred first: the order breaks ties
    /// between codings of equal `accept-encoding` quality.
    public var codings: [ContentCoding] = ContentCoding.preference
    /// Levels by coding (see `Compressor.levels`); a missing coding uses
    /// `Compressor.defaultLevel`.
    public var levels: [ContentCoding: Int] = [:]
    /// Smaller files are sent as they are (a few hundred bytes gain little
    /// and cost a cache entry).
    public var minimumSize = 512
    /// Media types worth compressing (the file's type without parameters).
    public var types: [MediaTypePattern] = MediaTypePattern.compressible
    /// Files up to this size are compressed on the loop; larger ones on the
    /// compression thread.
    public var inlineLimit = 16 << 10
    /// Bytes the compressed-file cache may hold. Files larger than this are
    /// never compressed.
    public var cacheSize: Int {
        didSet { cache = CompressionCache(maximumBytes: cacheSize) }
    }
    /// The compressed files, shared by every copy of these settings.
    public private(set) var cache: CompressionCache

    public init(cacheSize: Int = 64 << 20) {
        self.cacheSize = cacheSize
        cache = CompressionCache(maximumBytes: cacheSize)
    }

    /// The level `coding` is compressed at.
    public func level(_ coding: ContentCoding) -> Int {
        levels[coding] ?? Compressor.defaultLevel(coding)
    }

    /// Whether files of `contentType` (parameters allowed) are compressed.
    public func compresses(contentType: StaticString) -> Bool {
        let bytes = UnsafeRawBufferPointer(start: contentType.utf8Start, count: contentType.utf8CodeUnitCount)
        let end = bytes.firstIndex(of: UInt8(ascii: ";")) ?? bytes.count
        var mediaType = UnsafeRawBufferPointer(rebasing: bytes[0..<end])
        while let last = mediaType.last, last == 0x20 { mediaType = UnsafeRawBufferPointer(rebasing: mediaType.dropLast()) }
        return types.contains { $0.matches(mediaType) }
    }
}

/// A media type a setting applies to: `type/subtype`, or `type/*` for every
/// subtype (RFC 9110 §8.3.1; compared without regard to case).
public struct MediaTypePattern: Sendable, Hashable, CustomStringConvertible {
    /// Lowercased `type`.
    public let type: String
    /// Lowercased `subtype`; nil for `*`.
    public let subtype: String?

    /// Parses `type/subtype` or `type/*`; nil for anything else.
    public init?(_ text: String) {
        let parts = text.lowercased().split(separator: "/", omittingEmptySubsequences: false)
        func isToken(_ text: Substring) -> Bool { !text.isEmpty && text.utf8.allSatisfy(ASCII.isTokenCharacter) }
        guard parts.count == 2, parts[0] != "*", isToken(parts[0]), parts[1] == "*" || isToken(parts[1]) else { return nil }
        type = String(parts[0])
        subtype = parts[1] == "*" ? nil : String(parts[1])
    }

    public var description: String { "\(type)/\(subtype ?? "*")" }

    /// Whether `mediaType` (`type/subtype`, no parameters) is one this names.
    public func matches(_ mediaType: UnsafeRawBufferPointer) -> Bool {
        guard let slash = mediaType.firstIndex(of: UInt8(ascii: "/")) else { return false }
        guard Self.equal(UnsafeRawBufferPointer(rebasing: mediaType[0..<slash]), type) else { return false }
        guard let subtype else { return true }
        return Self.equal(UnsafeRawBufferPointer(rebasing: mediaType[(slash + 1)...]), subtype)
    }

    /// Text, scripts, data and vector formats, fonts without their own
    /// compression: what the common static-site types compress well.
    public static let compressible: [MediaTypePattern] = [
        "text/*", "application/javascript", "application/json", "application/ld+json",
        "application/manifest+json", "application/xml", "application/xhtml+xml", "application/rss+xml",
        "application/atom+xml", "application/wasm", "application/yaml", "application/toml",
        "image/svg+xml", "image/vnd.microsoft.icon", "image/bmp", "font/ttf", "font/otf",
        "application/vnd.ms-fontobject",
    ].map { MediaTypePattern($0)! }

    private static func equal(_ bytes: UnsafeRawBufferPointer, _ lowercased: String) -> Bool {
        bytes.count == lowercased.utf8.count
            && zip(bytes, lowercased.utf8).allSatisfy { ASCII.lowercased($0) == $1 }
    }
}
