import SwiftletHTTP

/// 103 Early Hints (RFC 8297) for HTML files: the stylesheets and scripts
/// a page refers to, as `link: </a.css>; rel=preload; as=style` fields, so
/// a browser starts fetching them before the page's own response arrives.
///
/// `links(in:directory:)` scans the page once per file version (the handler
/// keeps the result with the cache entry). It is a tag scanner, not an HTML
/// parser: it reads `<link rel=stylesheet href>` and `<script src>` tags
/// outside comments and outside the text of `<script>` and `<style>`
/// elements, in the first `scanLimit` bytes. Only same-origin URLs are
/// hinted (a path, absolute or relative to the page's directory); URLs with
/// a scheme or a host, or with bytes a `link` value cannot carry, are left
/// to the browser. A page with a `<base>` element gets hints only for its
/// absolute paths (relative ones would resolve against the base).
public enum EarlyHints {
    /// Bytes of a page scanned for links.
    public static let scanLimit = 256 << 10
    /// Links hinted per page at most.
    public static let linkLimit = 16

    /// Which responses get a 103 (the `--early-hints` flag).
    public enum Policy: String, Sendable, CaseIterable {
        case off
        /// HTTP/2 only: RFC 8297 §3 warns that HTTP/1.1 clients may mishandle
        /// informational responses; browsers act on them over HTTP/2 and 3.
        case h2
        /// HTTP/2 and HTTP/1.1 (never HTTP/1.0, RFC 9110 §15.2).
        case all
    }

    /// The `link` field values for `html`, a page in `directory` (its path
    /// from the root, empty or ending in "/").
    public static func links(in html: UnsafeRawBufferPointer, directory: [UInt8]) -> [String] {
        var scanner = TagScanner(UnsafeRawBufferPointer(rebasing: html.prefix(scanLimit)))
        var links: [String] = []
        var hasBase = false
        while links.count < linkLimit, let tag = scanner.nextTag() {
            let hint: (url: [UInt8], rel: String, crossorigin: [UInt8]?)?
            switch tag.name {
            case "base":
                hasBase = true
                hint = nil
            case "link":
                let rel = tag.attributes["rel"].map { String(decoding: $0, as: UTF8.self).lowercased() } ?? ""
                let tokens = rel.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
                if tokens.contains("stylesheet") && !tokens.contains("alternate"), let href = tag.attributes["href"] {
                    hint = (href, "rel=preload; as=style", tag.attributes["crossorigin"])
                } else {
                    hint = nil
                }
            case "script":
                let type = tag.attributes["type"].map { String(decoding: $0, as: UTF8.self).lowercased() } ?? ""
                if let src = tag.attributes["src"], tag.attributes["nomodule"] == nil {
                    switch type {
                    case "module": hint = (src, "rel=modulepreload", tag.attributes["crossorigin"])
                    case "", "text/javascript", "application/javascript": hint = (src, "rel=preload; as=script", tag.attributes["crossorigin"])
                    default: hint = nil  // data blocks and templates are not fetched as scripts
                    }
                } else {
                    hint = nil
                }
            default:
                hint = nil
            }
            guard let hint, let path = resolve(hint.url, directory: directory, relativeAllowed: !hasBase) else { continue }
            var value = "<" + String(decoding: path, as: UTF8.self) + ">; " + hint.rel
            if let crossorigin = hint.crossorigin {
                // The preload must be made in the mode the element will use, or it is not reused.
                value += String(decoding: crossorigin, as: UTF8.self).lowercased() == "use-credentials"
                    ? "; crossorigin=use-credentials" : "; crossorigin"
            }
            if !links.contains(value) { links.append(value) }
        }
        return links
    }

    /// `url` as an absolute path on this origin, dot segments removed; nil
    /// for another origin, a path above the root, or bytes a quoted-free
    /// `<URI-Reference>` in a `link` value cannot carry.
    static func resolve(_ url: [UInt8], directory: [UInt8], relativeAllowed: Bool) -> [UInt8]? {
        guard !url.isEmpty, url.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">")
                                             && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) else { return nil }
        // A fragment is not sent; a query is part of the resource.
        let withoutFragment = url.prefix { $0 != UInt8(ascii: "#") }
        let queryStart = withoutFragment.firstIndex(of: UInt8(ascii: "?")) ?? withoutFragment.endIndex
        let path = withoutFragment[..<queryStart]
        let query = withoutFragment[queryStart...]
        if path.starts(with: "//".utf8) { return nil }  // another host
        // A scheme ("https:", "data:") comes before any "/", "?" or "#".
        if let colon = path.firstIndex(of: UInt8(ascii: ":")), !path[..<colon].contains(UInt8(ascii: "/")) { return nil }
        guard !path.isEmpty else { return nil }
        var full: [UInt8]
        if path.first == UInt8(ascii: "/") {
            full = Array(path)
        } else {
            guard relativeAllowed else { return nil }
            full = [UInt8(ascii: "/")] + directory + path
        }
        // RFC 3986 §5.2.4, on segments: "." goes, ".." takes the previous one with it.
        var segments: [ArraySlice<UInt8>] = []
        let parts = full.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
        for (index, segment) in parts.enumerated() {
            let last = index == parts.count - 1
            if segment.elementsEqual(".".utf8) {
                if last { segments.append([]) }
            } else if segment.elementsEqual("..".utf8) {
                guard !segments.isEmpty else { return nil }  // above the root
                segments.removeLast()
                if last { segments.append([]) }
            } else {
                segments.append(segment)
            }
        }
        var resolved: [UInt8] = []
        for segment in segments {
            resolved.append(UInt8(ascii: "/"))
            resolved.append(contentsOf: segment)
        }
        if resolved.isEmpty { resolved = [UInt8(ascii: "/")] }
        resolved.append(contentsOf: query)
        return resolved
    }
}

/// Walks the start tags of an HTML document: names lowercased, attributes
/// by lowercased name (values unquoted, entities not decoded). Skips
/// comments, doctypes, end tags, and the text of `script` and `style`
/// elements (which may contain "<link" as text).
struct TagScanner {
    struct Tag {
        var name: String
        var attributes: [String: [UInt8]]
    }

    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func nextTag() -> Tag? {
        while let open = find(UInt8(ascii: "<"), from: position) {
            position = open + 1
            if startsWith("!--", at: position) {
                guard let end = find("-->", from: position + 3) else { return nil }
                position = end + 3
                continue
            }
            guard position < bytes.count, isLetter(bytes[position]) else { continue }  // end tags, doctypes, text
            let nameStart = position
            while position < bytes.count, isNameByte(bytes[position]) { position += 1 }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[nameStart..<position]), as: UTF8.self).lowercased()
            guard let attributes = readAttributes() else { return nil }
            if name == "script" || name == "style" {
                // Raw text: no tags inside until the matching end tag.
                guard let end = find("</" + name, from: position, ignoringCase: true) else {
                    position = bytes.count
                    return Tag(name: name, attributes: attributes)
                }
                position = end
            }
            return Tag(name: name, attributes: attributes)
        }
        position = bytes.count
        return nil
    }

    /// Attributes up to the tag's `>`; nil if the document ends first.
    private mutating func readAttributes() -> [String: [UInt8]]? {
        var attributes: [String: [UInt8]] = [:]
        while true {
            while position < bytes.count, isSpace(bytes[position]) || bytes[position] == UInt8(ascii: "/") { position += 1 }
            guard position < bytes.count else { return nil }
            if bytes[position] == UInt8(ascii: ">") {
                position += 1
                return attributes
            }
            let nameStart = position
            while position < bytes.count, !isSpace(bytes[position]), bytes[position] != UInt8(ascii: "="),
                  bytes[position] != UInt8(ascii: ">"), bytes[position] != UInt8(ascii: "/") || position == nameStart {
                position += 1
            }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[nameStart..<position]), as: UTF8.self).lowercased()
            while position < bytes.count, isSpace(bytes[position]) { position += 1 }
            var value: [UInt8] = []
            if position < bytes.count, bytes[position] == UInt8(ascii: "=") {
                position += 1
                while position < bytes.count, isSpace(bytes[position]) { position += 1 }
                guard position < bytes.count else { return nil }
                let quote = bytes[position]
                if quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") {
                    guard let end = find(quote, from: position + 1) else { return nil }
                    value = Array(bytes[(position + 1)..<end])
                    position = end + 1
                } else {
                    let start = position
                    while position < bytes.count, !isSpace(bytes[position]), bytes[position] != UInt8(ascii: ">") { position += 1 }
                    value = Array(bytes[start..<position])
                }
            }
            // The first of repeated attributes counts (HTML's parsing rule).
            if attributes[name] == nil { attributes[name] = trimmed(value) }
        }
    }

    private func trimmed(_ value: [UInt8]) -> [UInt8] {
        Array(value.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }

    private func find(_ byte: UInt8, from start: Int) -> Int? {
        var index = start
        while index < bytes.count {
            if bytes[index] == byte { return index }
            index += 1
        }
        return nil
    }

    /// Where `text` next starts, from `start` (ASCII letters in any case
    /// when `ignoringCase`, for `text` given lowercased).
    private func find(_ text: String, from start: Int, ignoringCase: Bool = false) -> Int? {
        let needle = Array(text.utf8)
        var index = start
        while index + needle.count <= bytes.count {
            if (0..<needle.count).allSatisfy({ (ignoringCase ? ASCII.lowercased(bytes[index + $0]) : bytes[index + $0]) == needle[$0] }) {
                return index
            }
            index += 1
        }
        return nil
    }

    private func startsWith(_ text: String, at index: Int) -> Bool { startsWith(Array(text.utf8), at: index) }

    private func startsWith(_ needle: [UInt8], at index: Int) -> Bool {
        index + needle.count <= bytes.count && (0..<needle.count).allSatisfy { bytes[index + $0] == needle[$0] }
    }

    private func isLetter(_ byte: UInt8) -> Bool { (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z") }
    private func isNameByte(_ byte: UInt8) -> Bool { !isSpace(byte) && byte != UInt8(ascii: ">") && byte != UInt8(ascii: "/") }
    private func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0C || byte == 0x0D }
}
