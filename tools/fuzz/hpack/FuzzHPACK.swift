// Fuzz target for the HPACK decoder (RFC 7541), with a round-trip check.
//
// The input is a sequence of header blocks, each prefixed by a 2-byte
// length (the rest of the input is the last block), decoded in order by one
// decoder so the dynamic table evolves across blocks. Every block that
// decodes is encoded again by our encoder (Huffman on odd blocks, off on
// even ones) and decoded by a second decoder: the fields, and whether each
// may be indexed, must come back the same. A crash, a trap, an ASan report
// or a mismatch is a finding.
//
// Built by `make fuzz` with -sanitize=fuzzer; built normally it replays the
// files given as arguments (the seed corpus, in `make test`).
import Foundation
import Glibc
import SwiftletHPACK

struct Field: Equatable {
    var name: [UInt8]
    var value: [UInt8]
    var neverIndexed: Bool
}

struct CollectingSink: HPACKSink {
    var fields: [Field] = []
    mutating func field(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, neverIndexed: Bool) {
        fields.append(Field(name: Array(name), value: Array(value), neverIndexed: neverIndexed))
    }
}

func fuzzHPACK(_ input: UnsafeRawBufferPointer) {
    let limits = HPACKDecoderLimits(maximumHeaderListSize: 16 * 1024, maximumStringLength: 4096, maximumFieldCount: 64)
    let decoder = HPACKDecoder(headerTableSize: 4096, limits: limits)
    let encoder = HPACKEncoder(maximumTableSize: 4096)
    let roundTrip = HPACKDecoder(headerTableSize: 4096, limits: HPACKDecoderLimits(maximumHeaderListSize: 1 << 20,
                                                                                   maximumStringLength: 1 << 20,
                                                                                   maximumFieldCount: 1 << 16))
    var offset = 0
    var blockNumber = 0
    while offset < input.count {
        var length = input.count - offset
        var start = offset
        if input.count - offset >= 2 {
            let prefixed = Int(input[offset]) << 8 | Int(input[offset + 1])
            if prefixed <= input.count - offset - 2 {
                length = prefixed
                start = offset + 2
            }
        }
        let block = UnsafeRawBufferPointer(rebasing: input[start..<start + length])
        offset = start + length
        blockNumber += 1
        var sink = CollectingSink()
        do {
            try decoder.decode(block, into: &sink)
        } catch {
            return  // COMPRESSION_ERROR ends the connection: nothing more to decode
        }
        encoder.huffman = blockNumber % 2 == 1
        var output = HPACKOutput(capacity: 4096)
        encoder.beginBlock(into: &output)
        for field in sink.fields {
            field.name.withUnsafeBytes { name in
                field.value.withUnsafeBytes { value in
                    encoder.encode(name: name, value: value, indexing: field.neverIndexed ? .never : .incremental, into: &output)
                }
            }
        }
        var again = CollectingSink()
        do {
            try roundTrip.decode(output.bytes, into: &again)
        } catch {
            fatalError("our encoding of a decoded block does not decode: \(error)")
        }
        precondition(again.fields == sink.fields, "round trip changed the fields of block \(blockNumber): \(sink.fields) became \(again.fields)")
        if length == 0 && start == offset { break }
    }
}

#if FUZZING
import CLibFuzzer

@main
enum Fuzz {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            fuzzHPACK(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        })
    }
}
#else
@main
enum Replay {
    static func main() {
        var count = 0
        for path in CommandLine.arguments.dropFirst() {
            guard let bytes = FileManager.default.contents(atPath: path) else {
                print("swiftlet-fuzz-hpack: cannot read \(path)")
                exit(1)
            }
            bytes.withUnsafeBytes { fuzzHPACK($0) }
            count += 1
        }
        print("swiftlet-fuzz-hpack: replayed \(count) inputs")
    }
}
#endif
