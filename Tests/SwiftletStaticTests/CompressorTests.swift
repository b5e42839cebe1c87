@testable import SwiftletStatic
import Testing

@Suite("Compressor: zstd, brotli and gzip through the C libraries")
struct CompressorTests {
    /// Text that compresses the way scripts do: repeated words, some variety.
    static let text: [UInt8] = {
        var generator = SplitMix(seed: 7)
        let words = ["function", "return", "const", "document", "querySelector", "=>", "{", "}", "(", ")", ";", "await"]
        var bytes: [UInt8] = []
        while bytes.count < 40_000 {
            bytes.append(contentsOf: words[Int(generator.next() % UInt64(words.count))].utf8)
            bytes.append(generator.next() % 8 == 0 ? 0x0A : 0x20)
        }
        return bytes
    }()

    static func compress(_ input: [UInt8], _ coding: ContentCoding, level: Int) -> Compressor.Outcome {
        input.withUnsafeBytes { Compressor.compress($0, coding: coding, level: level) }
    }

    @Test("each coding at its lowest, default and highest level decodes back to the input", arguments: ContentCoding.allCases)
    func roundTrip(coding: ContentCoding) throws {
        let levels = Compressor.levels(coding)
        for level in [levels.lowerBound, Compressor.defaultLevel(coding), levels.upperBound] {
            guard case .compressed(let body) = Self.compress(Self.text, coding, level: level) else {
                Issue.record("\(coding) level \(level) did not compress")
                continue
            }
            #expect(body.count < Self.text.count / 2, "\(coding) level \(level): \(body.count) bytes")
            #expect(body.coding == coding && body.level == level)
            let decoded = Compressor.decompress(body.bytes, coding: coding, limit: Self.text.count)
            #expect(decoded == Self.text, "\(coding) level \(level)")
        }
    }

    @Test("the formats are the registered ones: gzip's magic 1f 8b, zstd's frame magic 28 b5 2f fd")
    func formats() throws {
        guard case .compressed(let gzip) = Self.compress(Self.text, .gzip, level: 6),
              case .compressed(let zstd) = Self.compress(Self.text, .zstd, level: 6) else {
            Issue.record("did not compress")
            return
        }
        #expect(Array(gzip.bytes.prefix(2)) == [0x1F, 0x8B])
        #expect(Array(zstd.bytes.prefix(4)) == [0x28, 0xB5, 0x2F, 0xFD])
    }

    @Test("random bytes do not shrink: incompressible, nothing kept", arguments: ContentCoding.allCases)
    func incompressible(coding: ContentCoding) {
        var generator = SplitMix(seed: 1)
        let noise = (0..<4096).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        guard case .incompressible = Self.compress(noise, coding, level: Compressor.defaultLevel(coding)) else {
            Issue.record("\(coding): random bytes were called compressible")
            return
        }
    }

    @Test("a level outside the coding's range fails instead of being clamped")
    func levelsOutsideTheRange() {
        for (coding, level) in [(ContentCoding.brotli, 12), (.brotli, -1), (.zstd, 0), (.zstd, 20), (.gzip, 0), (.gzip, 10)] {
            guard case .failed = Self.compress(Self.text, coding, level: level) else {
                Issue.record("\(coding) level \(level) was accepted")
                continue
            }
        }
        #expect(Compressor.levels(.brotli) == 0...11)
        #expect(Compressor.levels(.zstd) == 1...19)
        #expect(Compressor.levels(.gzip) == 1...9)
    }

    @Test("decompressing refuses damaged input and output beyond the limit", arguments: ContentCoding.allCases)
    func damagedInput(coding: ContentCoding) {
        guard case .compressed(let body) = Self.compress(Self.text, coding, level: Compressor.defaultLevel(coding)) else {
            Issue.record("did not compress")
            return
        }
        #expect(Compressor.decompress(body.bytes, coding: coding, limit: Self.text.count - 1) == nil)
        var damaged = Array(body.bytes)
        damaged.removeLast(damaged.count / 2)
        #expect(damaged.withUnsafeBytes { Compressor.decompress($0, coding: coding, limit: Self.text.count) } == nil)
    }
}

/// A small deterministic generator for test data.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
