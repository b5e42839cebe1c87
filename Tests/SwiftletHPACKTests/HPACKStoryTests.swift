import Foundation
import Testing
@testable import SwiftletHPACK

@Suite("HPACK interoperability stories")
struct HPACKStoryTests {
    @Test("the story directory is present and complete")
    func storiesArePresent() {
        let implementations = Stories.implementations()
        #expect(implementations.count >= 5, "found \(implementations) in \(Stories.directory.path)")
        #expect(Stories.files(in: "raw-data").count >= 30)
    }

    @Test("every story of every encoder decodes to its headers", arguments: Stories.implementations())
    func decodeStories(implementation: String) throws {
        let files = Stories.files(in: implementation)
        #expect(!files.isEmpty)
        var blocks = 0
        for file in files {
            let cases = try Stories.cases(file)
            let limit = max(4096, cases.compactMap(\.headerTableSize).max() ?? 4096)
            let decoder = HPACKDecoder(headerTableSize: limit, limits: HPACKDecoderLimits(maximumHeaderListSize: 1 << 20))
            if let first = cases.first?.headerTableSize { decoder.headerTableSizeAcknowledged(first) }
            for (number, story) in cases.enumerated() {
                if number > 0, let size = story.headerTableSize { decoder.headerTableSizeAcknowledged(size) }
                let fields = try decode(decoder, story.wire)
                #expect(sameFields(fields, story.headers), "\(implementation)/\(file.lastPathComponent) case \(number)")
                blocks += 1
            }
        }
        #expect(blocks > 1000)
    }

    @Test("every raw-data story round-trips through our encoder and decoder",
          arguments: [true, false], [HPACKIndexing.incremental, .none, .never])
    func roundTrip(huffman: Bool, indexing: HPACKIndexing) throws {
        for file in Stories.files(in: "raw-data") {
            let encoder = HPACKEncoder()
            encoder.huffman = huffman
            let decoder = HPACKDecoder(limits: HPACKDecoderLimits(maximumHeaderListSize: 1 << 20))
            for (number, story) in try Stories.cases(file).enumerated() {
                let block = encode(encoder, story.headers, indexing: indexing)
                let fields = try decode(decoder, block)
                #expect(sameFields(fields, story.headers), "\(file.lastPathComponent) case \(number)")
            }
            #expect(decoder.dynamicTableSize == encoder.dynamicTableSize, "both tables hold the same entries")
        }
    }

    @Test("indexing makes repeated headers cheap")
    func indexingCompresses() throws {
        let encoder = HPACKEncoder()
        let fields = [(":status", "200"), ("content-type", "text/html; charset=utf-8"), ("server", "swiftlet"),
                      ("cache-control", "public, max-age=3600")]
        let first = encode(encoder, fields)
        let second = encode(encoder, fields)
        #expect(second.count == 4, "every field is a one-byte index the second time: \(hex(second))")
        #expect(first.count > 30)
    }
}
