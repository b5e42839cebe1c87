import Testing
@testable import SwiftletHPACK

/// `HPACKPreparedFields` moves the per-field work out of encoding; the wire
/// must not notice. Each test encodes the same blocks with two encoders, one
/// field by field and one from a preparation, and compares the bytes.
@Suite("Prepared fields encode to the same bytes as fields encoded one by one")
struct PreparedFieldsTests {
    typealias Field = (name: String, value: String, indexing: HPACKIndexing)

    let head: [Field] = [
        ("server", "swiftlet", .incremental),
        ("etag", "\"1a2b-400-65f0c1d2\"", .none),                 // literal, static name
        ("last-modified", "Tue, 01 Dec 2026 14:39:10 GMT", .none),
        ("accept-ranges", "bytes", .incremental),                 // whole in the static table? no: name only
        ("content-type", "text/html; charset=utf-8", .incremental),
        ("content-length", "1024", .none),
        ("x-request-kind", "static", .incremental),               // new name: literal name
        ("x-opaque", "no-index-no-static-name", .none),           // .none without a static name: table searched
        ("authorization", "secret", .never),                      // never indexed
        ("accept-encoding", "gzip, deflate", .never),             // whole static entry, yet a literal (§6.2.3)
        (":status", "200", .incremental),                         // whole static entry: one byte
    ]

    func prepare(_ fields: [Field]) -> HPACKPreparedFields {
        var builder = HPACKPreparedFields.Builder()
        for field in fields {
            Array(field.name.utf8).withUnsafeBytes { name in
                Array(field.value.utf8).withUnsafeBytes { value in
                    builder.append(name: name, value: value, indexing: field.indexing)
                }
            }
        }
        return HPACKPreparedFields(builder)
    }

    /// One block: `before` field by field, then `fields` either field by
    /// field or from `preparation`.
    func block(_ encoder: HPACKEncoder, before: [Field] = [], _ fields: [Field],
               preparation: HPACKPreparedFields? = nil) -> [UInt8] {
        var output = HPACKOutput()
        encoder.beginBlock(into: &output)
        func add(_ field: Field) {
            Array(field.name.lowercased().utf8).withUnsafeBytes { name in
                Array(field.value.utf8).withUnsafeBytes { value in
                    encoder.encode(name: name, value: value, indexing: field.indexing, into: &output)
                }
            }
        }
        before.forEach(add)
        if let preparation { encoder.encode(preparation, into: &output) } else { fields.forEach(add) }
        return Array(output.bytes)
    }

    @Test("block after block: first literals and inserts, then indexes")
    func repeatedBlocks() throws {
        let (plain, fast, decoder) = (HPACKEncoder(), HPACKEncoder(), HPACKDecoder(headerTableSize: 4096))
        let preparation = prepare(head)
        var sizes: [Int] = []
        for round in 0..<4 {
            let expected = block(plain, head)
            sizes.append(expected.count)
            let prepared = block(fast, head, preparation: preparation)
            #expect(hex(prepared) == hex(expected), "block \(round)")
            #expect(sameFields(try decode(decoder, prepared), head.map { ($0.name, $0.value) }))
        }
        #expect(fast.dynamicTableSize == plain.dynamicTableSize)
        // server, accept-ranges, content-type and x-request-kind are indexed
        // from the second block on; the .none and .never fields stay literals.
        #expect(sizes[1] < sizes[0] && sizes[1...].allSatisfy { $0 == sizes[1] }, "\(sizes)")
    }

    @Test("after other fields, through a table that evicts, and size changes announced (§4.2, §6.3)")
    func evictionAndSizeUpdates() throws {
        let (plain, fast, decoder) = (HPACKEncoder(), HPACKEncoder(), HPACKDecoder(headerTableSize: 4096))
        let preparation = prepare(head)
        for round in 0..<6 {
            if round == 2 { plain.setPeerHeaderTableSize(128); fast.setPeerHeaderTableSize(128) }
            if round == 4 { plain.setPeerHeaderTableSize(0); fast.setPeerHeaderTableSize(0) }
            let date: [Field] = [("date", "Tue, 01 Dec 2026 14:39:1\(round) GMT", .incremental)]
            let expected = block(plain, before: date, head)
            let prepared = block(fast, before: date, head, preparation: preparation)
            #expect(hex(prepared) == hex(expected), "round \(round)")
            #expect(sameFields(try decode(decoder, prepared), (date + head).map { ($0.name, $0.value) }))
        }
    }

    @Test("uppercase names are lowercased when prepared")
    func lowercasing() {
        let preparation = prepare([("Content-Type", "text/plain", .incremental)])
        #expect(String(decoding: preparation[0].name, as: UTF8.self) == "content-type")
        #expect(hex(block(HPACKEncoder(), [], preparation: preparation))
                == hex(block(HPACKEncoder(), [("content-type", "text/plain", .incremental)])))
    }

    @Test("without Huffman coding the prepared literals are not used, and the bytes still match")
    func withoutHuffman() {
        let (plain, fast) = (HPACKEncoder(), HPACKEncoder())
        plain.huffman = false
        fast.huffman = false
        #expect(hex(block(fast, head, preparation: prepare(head))) == hex(block(plain, head)))
    }
}
