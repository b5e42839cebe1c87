import Glibc
import Logging

/// A swift-log handler that writes one JSON object per line to standard
/// error, for log collectors (`swiftlet --log-format json`):
///
///     {"time":"2026-12-01T18:35:00.123Z","level":"warning","label":"swiftlet","source":"SwiftletServer",
///      "message":"...","metadata":{"connection":"7"}}
///
/// (on one line). Each line goes out in one `write(2)`, so lines from
/// several threads do not interleave.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let descriptor: Int32

    public init(label: String, descriptor: Int32 = STDERR_FILENO) {
        self.label = label
        self.descriptor = descriptor
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        emit(level: event.level, source: event.source, message: event.message.description, metadata: merged)
    }

    /// Writes one line whatever `logLevel` says (for a program's own
    /// announcements, such as where it listens).
    public func emit(level: Logger.Level, source: String, message: String, metadata: Logger.Metadata = [:]) {
        var line: [UInt8] = []
        line.reserveCapacity(256)
        line.append(contentsOf: "{\"time\":\"".utf8)
        var time = LogTime()  // handlers are values copied per logger: no cache to share
        time.append(to: &line)
        line.append(UInt8(ascii: "\""))
        line.append(contentsOf: ",\"level\":".utf8)
        JSONText.append(level.rawValue, to: &line)
        line.append(contentsOf: ",\"label\":".utf8)
        JSONText.append(label, to: &line)
        line.append(contentsOf: ",\"source\":".utf8)
        JSONText.append(source, to: &line)
        line.append(contentsOf: ",\"message\":".utf8)
        JSONText.append(message, to: &line)
        let merged = metadata
        if !merged.isEmpty {
            line.append(contentsOf: ",\"metadata\":{".utf8)
            for (index, key) in merged.keys.sorted().enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                JSONText.append(key, to: &line)
                line.append(UInt8(ascii: ":"))
                JSONText.append(merged[key]!.description, to: &line)
            }
            line.append(UInt8(ascii: "}"))
        }
        line.append(contentsOf: "}\n".utf8)
        line.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 { if errno == EINTR { continue }; return }
                offset += written
            }
        }
    }
}
