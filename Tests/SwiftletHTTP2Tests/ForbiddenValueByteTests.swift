@testable import SwiftletHTTP2
import Testing

@Suite("RFC 9113 §8.2.1: the NUL, LF and CR scan")
struct ForbiddenValueByteTests {
    @Test("Found at every position of every length to 40, word by word and in the overlapping last word; no other byte is")
    func everyPositionAndLength() {
        for length in 0...40 {
            for position in 0..<length {
                for byte in 0...255 {
                    var value = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    value[position] = UInt8(byte)
                    let forbidden = byte == 0 || byte == 0x0A || byte == 0x0D
                    if value.withUnsafeBytes({ RequestValidator.containsNULCROrLF($0) }) != forbidden {
                        Issue.record("byte \(byte) at \(position) of \(length)")
                    }
                }
            }
            // Bytes that borrow from their neighbours in the word arithmetic (0x01 after 0x00's place, 0x0B, 0x0E, 0x80, 0xFF), none forbidden.
            let clean = (0..<length).map { [0x01, 0x0B, 0x0E, 0x80, 0xFF, 0x09, 0x0C][$0 % 7] as UInt8 }
            #expect(!clean.withUnsafeBytes { RequestValidator.containsNULCROrLF($0) }, "\(length) clean bytes")
        }
    }
}

@Suite("RFC 9113 §8.2.1: the field-name scan")
struct ForbiddenNameByteTests {
    @Test("Every byte value at every position of every length to 40 is judged as the byte test judges it")
    func everyPositionAndLength() {
        for length in 0...40 {
            for position in 0..<length {
                for byte in 0...255 {
                    var name = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    name[position] = UInt8(byte)
                    if name.withUnsafeBytes({ RequestValidator.nameHasForbiddenByte($0) }) != RequestValidator.isForbiddenInName(UInt8(byte)) {
                        Issue.record("byte \(byte) at \(position) of \(length)")
                    }
                }
            }
        }
    }

    @Test("Allowed bytes next to the forbidden ranges, in every arrangement tried, pass: 0x21, 0x39, 0x3B, 0x40, 0x5B, 0x60, 0x7E, digits, lowercase")
    func boundaryBytesPass() {
        let allowed: [UInt8] = [0x21, 0x39, 0x3B, 0x40, 0x5B, 0x60, 0x7E, 0x30, 0x61, 0x7A, 0x2D, 0x5F]
        var state: UInt64 = 8221
        for length in 0...40 {
            for _ in 0..<50 {
                let name = (0..<length).map { _ -> UInt8 in
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    return allowed[Int((state >> 33) % UInt64(allowed.count))]
                }
                #expect(!name.withUnsafeBytes { RequestValidator.nameHasForbiddenByte($0) }, "\(name)")
            }
        }
    }
}
