import CSwiftletCompression
import Glibc

/// The compressed bytes of one file version in one coding and level:
/// immutable once made, shared by the responses of every loop (each borrows
/// `bytes` with the body as owner, so an evicted body lives until its last
/// response is written).
public final class CompressedBody: Sendable {
    /// `malloc`ed, exactly `count` bytes; never written after `init`.
    nonisolated(unsafe) let bytes: UnsafeRawBufferPointer
    public let coding: ContentCoding
    public let level: Int

    init(taking bytes: UnsafeRawBufferPointer, coding: ContentCoding, level: Int) {
        self.bytes = bytes
        self.coding = coding
        self.level = level
    }

    deinit { free(UnsafeMutableRawPointer(mutating: bytes.baseAddress)) }

    public var count: Int { bytes.count }
}

/// One-shot compression of a whole file through the C libraries (zstd,
/// brotli, zlib's gzip): the only place Swiftlet calls them.
public enum Compressor {
    /// The levels `coding` accepts: brotli 0...11, zstd 1...19, gzip 1...9.
    public static func levels(_ coding: ContentCoding) -> ClosedRange<Int> {
        Int(swiftlet_compress_level_min(coding.library))...Int(swiftlet_compress_level_max(coding.library))
    }

    /// The default level of each coding: good ratios at a speed that
    /// compresses a 50 KiB script in about a millisecond. Compressed bytes
    /// are cached, so a file version pays once.
    public static func defaultLevel(_ coding: ContentCoding) -> Int {
        switch coding {
        case .brotli: 5
        case .zstd: 6
        case .gzip: 6
        }
    }

    /// What compressing a file produced.
    public enum Outcome {
        case compressed(CompressedBody)
        /// The compressed form would not be smaller: serve the file as it is.
        case incompressible
        /// The library failed (or the level is outside `levels`).
        case failed
    }

    /// Compresses all of `input`.
    public static func compress(_ input: UnsafeRawBufferPointer, coding: ContentCoding, level: Int) -> Outcome {
        guard levels(coding).contains(level) else { return .failed }
        let capacity = swiftlet_compress_bound(coding.library, input.count)
        guard capacity > 0, let output = malloc(capacity) else { return .failed }
        let produced = swiftlet_compress(coding.library, Int32(level), input.baseAddress, input.count, output, capacity)
        guard produced >= 0 else {
            free(output)
            return .failed
        }
        guard produced < input.count else {
            free(output)
            return .incompressible
        }
        // Give back the slack of the worst-case bound.
        let exact = realloc(output, max(produced, 1)) ?? output
        return .compressed(CompressedBody(taking: UnsafeRawBufferPointer(start: exact, count: produced), coding: coding, level: level))
    }

    /// Decompresses `input` when it holds at most `limit` bytes of content
    /// (nil if it is malformed or larger): for tests and checks.
    public static func decompress(_ input: UnsafeRawBufferPointer, coding: ContentCoding, limit: Int) -> [UInt8]? {
        var output = [UInt8](repeating: 0, count: limit)
        let produced = output.withUnsafeMutableBytes {
            swiftlet_decompress(coding.library, input.baseAddress, input.count, $0.baseAddress, $0.count)
        }
        guard produced >= 0 else { return nil }
        output.removeSubrange(produced...)
        return output
    }
}

extension ContentCoding {
    /// The coding's number in CSwiftletCompression (`enum swiftlet_coding`).
    var library: Int32 {
        switch self {
        case .brotli: Int32(SWIFTLET_CODING_BROTLI.rawValue)
        case .zstd: Int32(SWIFTLET_CODING_ZSTD.rawValue)
        case .gzip: Int32(SWIFTLET_CODING_GZIP.rawValue)
        }
    }
}
