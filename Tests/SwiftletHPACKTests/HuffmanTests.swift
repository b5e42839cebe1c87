import Testing
@testable import SwiftletHPACK

/// The byte-at-a-time decoder against the plainest reading of RFC 7541
/// §5.2 and Appendix B: match codes bit by bit against the code list.
@Suite("Huffman decoding")
struct HuffmanTests {
    /// (length << 32 | code) → symbol.
    static let codes: [UInt64: Int] = Dictionary(uniqueKeysWithValues: (0...256).map { symbol in
        (UInt64(huffmanCodes[symbol].length) << 32 | UInt64(huffmanCodes[symbol].code), symbol)
    })

    enum Outcome: Equatable {
        case decoded([UInt8])
        case failed(HPACKError)
    }

    /// Reads bits one at a time and, after each, asks whether they are one
    /// of the 257 codes. "A Huffman-encoded string literal containing the EOS
    /// symbol MUST be treated as a decoding error"; "A padding strictly
    /// longer than 7 bits MUST be treated as a decoding error"; "A padding
    /// not corresponding to the most significant bits of the code for the
    /// EOS symbol MUST be treated as a decoding error" (§5.2).
    static func reference(_ input: [UInt8]) -> Outcome {
        var output: [UInt8] = []
        var pending: UInt64 = 0
        var pendingBits = 0
        for byte in input {
            for position in stride(from: 7, through: 0, by: -1) {
                pending = pending << 1 | UInt64(byte >> UInt8(position) & 1)
                pendingBits += 1
                if let symbol = Self.codes[UInt64(pendingBits) << 32 | pending] {
                    if symbol == 256 { return .failed(.huffmanEOS) }
                    output.append(UInt8(symbol))
                    pending = 0
                    pendingBits = 0
                }
            }
        }
        let allOnes: UInt64 = pendingBits == 0 ? 0 : (1 << UInt64(pendingBits)) - 1
        if pendingBits > 7 || pending != allOnes { return .failed(.huffmanPadding) }
        return .decoded(output)
    }

    static func decoded(_ input: [UInt8]) -> Outcome {
        var output = [UInt8](repeating: 0, count: Huffman.decodingCapacity(input.count))
        do {
            let count = try input.withUnsafeBytes { raw throws(HPACKError) in
                try output.withUnsafeMutableBufferPointer { out throws(HPACKError) in try Huffman.decode(raw, into: out.baseAddress!) }
            }
            return .decoded(Array(output.prefix(count)))
        } catch let error as HPACKError {
            return .failed(error)
        } catch {
            Issue.record("unexpected \(error)")
            return .failed(.truncated)
        }
    }

    static func huffman(_ text: [UInt8]) -> [UInt8] {
        var encoded = [UInt8](repeating: 0, count: text.withUnsafeBytes { Huffman.encodedLength($0) })
        text.withUnsafeBytes { raw in encoded.withUnsafeMutableBufferPointer { Huffman.encode(raw, into: $0.baseAddress!) } }
        return encoded
    }

    @Test("RFC 7541 C.4.1: \"www.example.com\" is f1e3 c2e5 f23a 6ba0 ab90 f4ff")
    func rfcExample() {
        let wire: [UInt8] = [0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff]
        #expect(Self.decoded(wire) == .decoded(Array("www.example.com".utf8)))
        #expect(Self.reference(wire) == .decoded(Array("www.example.com".utf8)))
    }

    @Test("every byte value, alone and in runs, decodes as the reference does")
    func everySymbol() {
        for symbol in 0...255 {
            for run in [1, 2, 3, 7] {
                let text = [UInt8](repeating: UInt8(symbol), count: run)
                let wire = Self.huffman(text)
                #expect(Self.decoded(wire) == .decoded(text), "symbol \(symbol) × \(run)")
            }
        }
    }

    @Test("random byte strings, valid or not, get the reference's result or error")
    func randomInputs() {
        var generator = XorShift(seed: 0x5EED)
        var failures = 0
        for round in 0..<20_000 {
            let length = Int(generator.next() % 24)
            var input = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            if round % 2 == 0 {
                // Half the inputs are real encodings, often with a tail cut or
                // a byte changed, so the valid and the padding paths are hit too.
                input = Self.huffman(input)
                if round % 6 == 0, !input.isEmpty { input.removeLast() }
                if round % 10 == 0, !input.isEmpty { input[Int(generator.next() % UInt64(input.count))] ^= 0xFF }
            }
            let expected = Self.reference(input)
            if Self.decoded(input) != expected {
                failures += 1
                Issue.record("\(input) should give \(expected), gives \(Self.decoded(input))")
                if failures > 5 { return }
            }
        }
    }

    @Test("long strings with symbols of 13 to 30 bits among common ones decode as the reference does")
    func longStringsWithRareSymbols() {
        var generator = XorShift(seed: 0xC0DE)
        var failures = 0
        for round in 0..<4_000 {
            let length = 8 + Int(generator.next() % 120)
            // Mostly common text, with a byte of a long code (a control
            // character, a mark like `$`, or a byte above 0x7F) now and then.
            let text: [UInt8] = (0..<length).map { _ in
                let draw = generator.next()
                if draw % 7 == 0 { return UInt8(truncatingIfNeeded: draw >> 8) }
                return Array("abcdefghijklmnopqrstuvwxyz0123456789-/.=".utf8)[Int((draw >> 8) % 40)]
            }
            var wire = Self.huffman(text)
            if round % 5 == 0 { wire.removeLast() }
            if round % 9 == 0 { wire[Int(generator.next() % UInt64(wire.count))] ^= UInt8(truncatingIfNeeded: generator.next() | 1) }
            let expected = round % 5 == 0 || round % 9 == 0 ? Self.reference(wire) : .decoded(text)
            if Self.decoded(wire) != expected {
                failures += 1
                Issue.record("\(wire) should give \(expected), gives \(Self.decoded(wire))")
                if failures > 5 { return }
            }
        }
    }

    @Test("EOS anywhere, and padding of eight ones, are errors (§5.2)")
    func eosAndPadding() {
        // "a" is 00011 (5 bits): followed by 30 ones the walk completes EOS.
        #expect(Self.decoded([0x1F, 0xFF, 0xFF, 0xFF, 0xFF]) == .failed(.huffmanEOS))
        // "a" then three ones of padding is valid; a whole byte of ones more is not.
        #expect(Self.decoded([0x1F]) == .decoded(Array("a".utf8)))
        #expect(Self.decoded([0x1F, 0xFF]) == .failed(.huffmanPadding))
        // Padding of zeros is not a prefix of EOS.
        #expect(Self.decoded([0x18]) == .failed(.huffmanPadding))
        #expect(Self.decoded([]) == .decoded([]))
    }
}

/// Marsaglia's xorshift64: deterministic, so a failure repeats.
struct XorShift {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
