import Testing
@testable import SwiftletHPACK

/// Each rule: the bytes that break it, and the exact error.
@Suite("HPACK decoding errors")
struct HPACKErrorTests {
    func error(_ block: [UInt8], decoder: HPACKDecoder = HPACKDecoder()) -> HPACKError? {
        do {
            _ = try decode(decoder, block)
            return nil
        } catch let error as HPACKError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test("index 0 is a decoding error (§6.1)")
    func indexZero() { #expect(error([0x80]) == .invalidIndex(0)) }

    @Test("an index past both tables is a decoding error (§2.3.3)")
    func indexBeyondTables() {
        #expect(error([0xBE]) == .invalidIndex(62), "62 with an empty dynamic table")
        #expect(error([0x7F, 0x80, 0x01]) == .invalidIndex(191), "as a literal's name index")
    }

    @Test("truncated integer, string and field")
    func truncation() {
        #expect(error([0xFF]) == .truncated)
        #expect(error([0x40, 0x05, 0x61]) == .truncated)
        #expect(error([0x40]) == .truncated)
        #expect(error([0x00, 0x01, 0x61]) == .truncated, "the value is missing")
    }

    @Test("an integer beyond 32 bits is refused")
    func integerOverflow() {
        #expect(error([0x3F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]) == .integerOverflow)
    }

    @Test("EOS inside a Huffman string is a decoding error (§5.2)")
    func huffmanEOS() {
        // 30 one-bits (EOS) padded to 32 bits: 0xFFFFFFFF.
        #expect(error([0x00, 0x01, 0x61, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]) == .huffmanEOS)
    }

    @Test("Huffman padding longer than 7 bits, or not all ones, is a decoding error (§5.2)")
    func huffmanPadding() {
        // 'a' is 00011 (5 bits); then 8 bits of ones: padding too long.
        #expect(error([0x00, 0x01, 0x61, 0x82, 0x1F, 0xFF]) == .huffmanPadding)
        // 'a' followed by three zero bits: padding that is not the EOS prefix.
        #expect(error([0x00, 0x01, 0x61, 0x81, 0x18]) == .huffmanPadding)
        // Valid: 'a' followed by 111.
        #expect(error([0x00, 0x01, 0x61, 0x81, 0x1F]) == nil)
    }

    @Test("the string length limit is checked before any Huffman decoding")
    func stringTooLongBeforeHuffman() {
        let decoder = HPACKDecoder(limits: HPACKDecoderLimits(maximumStringLength: 16))
        // A 17-byte "Huffman" string of all ones (which would fail as EOS):
        var block: [UInt8] = [0x00, 0x01, 0x61, 0x91]
        block += [UInt8](repeating: 0xFF, count: 17)
        #expect(error(block, decoder: decoder) == .stringTooLong(length: 17, limit: 16))
    }

    @Test("an HPACK bomb stops at the decoded header list limit")
    func bomb() {
        let decoder = HPACKDecoder(limits: HPACKDecoderLimits(maximumHeaderListSize: 16 * 1024, maximumFieldCount: 10_000))
        // One 4000-byte value indexed, then 1000 one-byte references to it:
        // 4 KiB on the wire, 4 MB decoded.
        var block: [UInt8] = [0x40, 0x01, 0x78, 0x7F, 0xA1, 0x1E]  // name "x", value length 127+3873=4000
        block += [UInt8](repeating: 0x62, count: 4000)
        block += [UInt8](repeating: 0xBE, count: 1000)
        #expect(error(block, decoder: decoder) == .headerListTooLarge(limit: 16 * 1024))
    }

    @Test("the field count limit")
    func tooManyFields() {
        let decoder = HPACKDecoder(limits: HPACKDecoderLimits(maximumFieldCount: 100))
        #expect(error([UInt8](repeating: 0x82, count: 101), decoder: decoder) == .tooManyFields(limit: 100))
        #expect(error([UInt8](repeating: 0x82, count: 100), decoder: HPACKDecoder(limits: HPACKDecoderLimits(maximumFieldCount: 100))) == nil)
    }

    @Test("a size update after a field is a decoding error (§4.2)")
    func sizeUpdatePosition() {
        #expect(error([0x82, 0x20]) == .sizeUpdateNotAtStart)
        #expect(error([0x20, 0x3F, 0xE1, 0x1F, 0x82]) == nil, "two updates at the start are fine (0, then 4096)")
    }

    @Test("a size update above SETTINGS_HEADER_TABLE_SIZE is a decoding error (§6.3)")
    func sizeUpdateTooLarge() {
        #expect(error([0x3F, 0xE2, 0x1F]) == .sizeUpdateTooLarge(size: 4097, limit: 4096))
    }

    @Test("after we lower our table size, the next block must start with an update (§4.2)")
    func sizeUpdateRequiredAfterLowering() {
        let decoder = HPACKDecoder()
        #expect(error([0x40, 0x01, 0x61, 0x01, 0x62], decoder: decoder) == nil)
        decoder.headerTableSizeAcknowledged(1024)
        #expect(error([0x82], decoder: decoder) == .sizeUpdateMissing)
        let fresh = HPACKDecoder()
        fresh.headerTableSizeAcknowledged(1024)
        #expect(error([0x3F, 0xE1, 0x07, 0x82], decoder: fresh) == nil, "an update to 1024 satisfies it")
        #expect(fresh.dynamicTableMaximumSize == 1024)
        #expect(error([0x3F, 0xE2, 0x07], decoder: fresh) == .sizeUpdateTooLarge(size: 1025, limit: 1024))
    }
}

@Suite("HPACK tables and codecs")
struct HPACKUnitTests {
    @Test("Huffman round-trips every byte value")
    func huffmanRoundTrip() throws {
        for length in [0, 1, 7, 64, 255, 1000] {
            let input = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
            let encodedLength = input.withUnsafeBytes { Huffman.encodedLength($0) }
            var encoded = [UInt8](repeating: 0, count: encodedLength)
            input.withUnsafeBytes { raw in encoded.withUnsafeMutableBufferPointer { Huffman.encode(raw, into: $0.baseAddress!) } }
            var decoded = [UInt8](repeating: 0, count: Huffman.decodingCapacity(encodedLength))
            let count = try encoded.withUnsafeBytes { raw in
                try decoded.withUnsafeMutableBufferPointer { out in try Huffman.decode(raw, into: out.baseAddress!) }
            }
            #expect(Array(decoded.prefix(count)) == input)
        }
    }

    @Test("a Huffman-coded name survives its value outgrowing the decoder's scratch memory")
    func huffmanNameThenLongValue() throws {
        let decoder = HPACKDecoder()
        func literal(_ name: String, _ value: String) -> [UInt8] {
            let name = HuffmanTests.huffman(Array(name.utf8)), value = HuffmanTests.huffman(Array(value.utf8))
            // §6.2.2 literal without indexing, new name; both strings Huffman-coded (H = 1).
            return [0x00, 0x80 | UInt8(name.count)] + name + [0xFF, UInt8(value.count - 127)] + value
        }
        // The first field grows the buffer to 256 bytes; the second's value
        // needs more, so the name decoded before it is moved with it.
        let short = String(repeating: "v", count: 150), long = String(repeating: "w", count: 190)
        let block = literal("x-first", short) + literal("x-second-name", long)
        #expect(sameFields(try decode(decoder, block), [("x-first", short), ("x-second-name", long)]))
    }

    @Test("decoders that share scratch memory (one loop's connections) decode in turn, each with its own table")
    func sharedScratch() throws {
        let scratch = HPACKScratch()
        let first = HPACKDecoder(scratch: scratch), second = HPACKDecoder(scratch: scratch)
        let firstEncoder = HPACKEncoder(), secondEncoder = HPACKEncoder()
        for round in 0..<20 {
            // Huffman-coded, indexed incrementally: names and values land in
            // the shared scratch, then in each decoder's own table.
            let a = [("x-first-\(round % 3)", String(repeating: "a", count: 10 + round * 15))]
            let b = [("x-second-\(round % 4)", String(repeating: "b", count: 300 - round * 10))]
            #expect(sameFields(try decode(first, encode(firstEncoder, a)), a))
            #expect(sameFields(try decode(second, encode(secondEncoder, b)), b))
        }
    }

    @Test("an entry larger than the table empties it and is not added (§4.4)")
    func oversizedEntry() throws {
        let decoder = HPACKDecoder(headerTableSize: 64)
        _ = try decode(decoder, [0x40, 0x01, 0x61, 0x01, 0x62])  // 34 bytes
        #expect(decoder.dynamicTableCount == 1)
        var block: [UInt8] = [0x40, 0x01, 0x63, 0x20]
        block += [UInt8](repeating: 0x64, count: 32)               // 1 + 32 + 32 = 65 > 64
        #expect(sameFields(try decode(decoder, block), [("c", String(repeating: "d", count: 32))]))
        #expect(decoder.dynamicTableCount == 0 && decoder.dynamicTableSize == 0)
    }

    @Test("a new entry may take its name from the entry its insertion evicts (§4.4)")
    func nameFromEvictedEntry() throws {
        let decoder = HPACKDecoder(headerTableSize: 80)
        // "custom-name: 1" (11 + 1 + 32 = 44), then a literal with indexed
        // name 62 (that entry) and a 10-byte value: 11 + 10 + 32 = 53, which
        // evicts the entry the name comes from.
        _ = try decode(decoder, bytes(hex: "400b637573746f6d2d6e616d650131"))
        let fields = try decode(decoder, bytes(hex: "7e0a") + Array("0123456789".utf8) + [0xBE])
        #expect(sameFields(fields, [("custom-name", "0123456789"), ("custom-name", "0123456789")]))
        #expect(decoder.dynamicTableCount == 1)
    }

    @Test("the dynamic table survives compaction: many inserts keep every span intact")
    func compaction() throws {
        let encoder = HPACKEncoder(maximumTableSize: 512)
        let decoder = HPACKDecoder(headerTableSize: 512)
        for round in 0..<2000 {
            let fields = [("x-\(round % 7)", String(repeating: Character(UnicodeScalar(97 + round % 26)!), count: round % 90)),
                          ("x-\(round % 5)", "\(round)")]
            #expect(sameFields(try decode(decoder, encode(encoder, fields)), fields))
        }
    }

    @Test("the encoder announces a smaller peer table size, the minimum first (§4.2)")
    func encoderSizeUpdates() throws {
        let encoder = HPACKEncoder()
        let decoder = HPACKDecoder()
        _ = try decode(decoder, encode(encoder, [("a", "b")]))
        encoder.setPeerHeaderTableSize(0)
        encoder.setPeerHeaderTableSize(2048)
        let block = encode(encoder, [("c", "d")])
        #expect(Array(block.prefix(3)) == [0x20, 0x3F, 0xE1], "update to 0, then to 2048 (3F E1 0F)")
        decoder.headerTableSizeAcknowledged(4096)
        #expect(sameFields(try decode(decoder, block), [("c", "d")]))
        #expect(decoder.dynamicTableMaximumSize == 2048 && decoder.dynamicTableCount == 1)
    }
}
