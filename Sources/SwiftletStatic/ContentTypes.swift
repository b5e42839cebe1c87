/// Content types by file extension: the common types of the web. Text types
/// carry `charset=utf-8`. Unknown extensions are `application/octet-stream`.
public enum ContentTypes {
    /// The type for a file name's extension (lowercased), as bytes.
    public static func type(forExtension ext: UnsafeRawBufferPointer) -> StaticString {
        var lowered: (UInt64, UInt64) = (0, 0)  // 16 bytes
        guard ext.count > 0, ext.count <= 16 else { return "application/octet-stream" }
        return withUnsafeMutableBytes(of: &lowered) { buffer in
            for index in 0..<ext.count {
                let byte = ext[index]
                buffer[index] = byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte
            }
            let key = String(decoding: UnsafeRawBufferPointer(rebasing: buffer[0..<ext.count]), as: UTF8.self)
            return table[key] ?? "application/octet-stream"
        }
    }

    static let table: [String: StaticString] = [
        "html": "text/html; charset=utf-8", "htm": "text/html; charset=utf-8",
        "css": "text/css; charset=utf-8",
        "js": "text/javascript; charset=utf-8", "mjs": "text/javascript; charset=utf-8",
        "txt": "text/plain; charset=utf-8", "text": "text/plain; charset=utf-8",
        "md": "text/markdown; charset=utf-8", "markdown": "text/markdown; charset=utf-8",
        "csv": "text/csv; charset=utf-8", "tsv": "text/tab-separated-values; charset=utf-8",
        "xml": "text/xml; charset=utf-8", "vtt": "text/vtt; charset=utf-8",
        "ics": "text/calendar; charset=utf-8",
        "json": "application/json", "map": "application/json", "jsonld": "application/ld+json",
        "webmanifest": "application/manifest+json",
        "rss": "application/rss+xml", "atom": "application/atom+xml",
        "xhtml": "application/xhtml+xml", "wasm": "application/wasm",
        "pdf": "application/pdf", "zip": "application/zip", "gz": "application/gzip",
        "tar": "application/x-tar", "br": "application/octet-stream", "7z": "application/x-7z-compressed",
        "yaml": "application/yaml", "yml": "application/yaml", "toml": "application/toml",
        "svg": "image/svg+xml", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
        "gif": "image/gif", "webp": "image/webp", "avif": "image/avif", "ico": "image/vnd.microsoft.icon",
        "bmp": "image/bmp", "tif": "image/tiff", "tiff": "image/tiff", "apng": "image/apng", "jxl": "image/jxl",
        "woff": "font/woff", "woff2": "font/woff2", "ttf": "font/ttf", "otf": "font/otf",
        "eot": "application/vnd.ms-fontobject",
        "mp4": "video/mp4", "m4v": "video/mp4", "webm": "video/webm", "ogv": "video/ogg", "mov": "video/quicktime",
        "mp3": "audio/mpeg", "m4a": "audio/mp4", "aac": "audio/aac", "oga": "audio/ogg", "ogg": "audio/ogg",
        "opus": "audio/opus", "wav": "audio/wav", "flac": "audio/flac", "weba": "audio/webm",
    ]
}
