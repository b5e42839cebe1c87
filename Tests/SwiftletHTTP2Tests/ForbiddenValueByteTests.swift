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
