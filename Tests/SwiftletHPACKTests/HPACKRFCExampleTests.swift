import Testing
@testable import SwiftletHPACK

/// RFC 7541 Appendix C, byte for byte.
@Suite("RFC 7541 Appendix C")
struct HPACKRFCExampleTests {
    let date21 = "Mon, 21 Oct 2013 20:13:21 GMT"
    let date22 = "Mon, 21 Oct 2013 20:13:22 GMT"
    let cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"

    @Test("C.1 integer representation")
    func integers() throws {
        var output = HPACKOutput()
        IntegerCoding.encode(10, prefixBits: 5, flags: 0, into: &output)     // C.1.1
        IntegerCoding.encode(1337, prefixBits: 5, flags: 0, into: &output)   // C.1.2
        IntegerCoding.encode(42, prefixBits: 8, flags: 0, into: &output)     // C.1.3
        #expect(hex(output.bytes) == "0a" + "1f9a0a" + "2a")
        let raw = Array(output.bytes)
        try raw.withUnsafeBytes { buffer throws in
            var position = 0
            #expect(try IntegerCoding.decode(buffer, &position, prefixBits: 5) == 10)
            #expect(try IntegerCoding.decode(buffer, &position, prefixBits: 5) == 1337)
            #expect(try IntegerCoding.decode(buffer, &position, prefixBits: 8) == 42)
            #expect(position == 5)
        }
    }

    @Test("C.2 header field representations")
    func representations() throws {
        let decoder = HPACKDecoder()
        #expect(sameFields(try decode(decoder, bytes(hex: "400a637573746f6d2d6b65790d637573746f6d2d686561646572")), [("custom-key", "custom-header")]))
        #expect(decoder.dynamicTableSize == 55)
        #expect(sameFields(try decode(decoder, bytes(hex: "040c2f73616d706c652f70617468")), [(":path", "/sample/path")]))
        var sink = CollectingSink()
        try bytes(hex: "100870617373776f726406736563726574").withUnsafeBytes { raw in try decoder.decode(raw, into: &sink) }
        #expect(sameFields(sink.fields, [("password", "secret")]) && sink.neverIndexed == [true])
        #expect(sameFields(try decode(decoder, [0x82]), [(":method", "GET")]))
        #expect(decoder.dynamicTableSize == 55, "only the first was indexed")
    }

    @Test("§6.2.3: a never-indexed field stays a never-indexed literal, even when the static table holds it whole")
    func neverIndexedStaysLiteral() throws {
        let encoder = HPACKEncoder()
        encoder.huffman = false
        let block = encode(encoder, [(":authority", ""), ("accept-encoding", "gzip, deflate")], indexing: .never)
        // 0x11 = never indexed, name index 1 (:authority), empty value;
        // 0x1f 0x01 = never indexed, name index 16 (accept-encoding), then the value.
        #expect(hex(block) == "1100" + "1f010d677a69702c206465666c617465")
        var sink = CollectingSink()
        try block.withUnsafeBytes { raw in try HPACKDecoder().decode(raw, into: &sink) }
        #expect(sink.neverIndexed == [true, true])
    }

    @Test("C.3 requests without Huffman, C.4 with: decode, and our encoder produces the same bytes")
    func requests() throws {
        let requests: [[(String, String)]] = [
            [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")],
            [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com"), ("cache-control", "no-cache")],
            [(":method", "GET"), (":scheme", "https"), (":path", "/index.html"), (":authority", "www.example.com"), ("custom-key", "custom-value")],
        ]
        let plain = ["828684410f7777772e6578616d706c652e636f6d",
                     "828684be58086e6f2d6361636865",
                     "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565"]
        let huffman = ["828684418cf1e3c2e5f23a6ba0ab90f4ff",
                       "828684be5886a8eb10649cbf",
                       "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"]
        let sizes = [57, 110, 164]
        for (wires, useHuffman) in [(plain, false), (huffman, true)] {
            let decoder = HPACKDecoder()
            let encoder = HPACKEncoder()
            encoder.huffman = useHuffman
            for index in 0..<3 {
                #expect(sameFields(try decode(decoder, bytes(hex: wires[index])), requests[index]))
                #expect(decoder.dynamicTableSize == sizes[index])
                #expect(hex(encode(encoder, requests[index])) == wires[index])
            }
        }
    }

    @Test("C.5 responses without Huffman, C.6 with, table size 256: eviction")
    func responses() throws {
        let responses: [[(String, String)]] = [
            [(":status", "302"), ("cache-control", "private"), ("date", date21), ("location", "https://www.example.com")],
            [(":status", "307"), ("cache-control", "private"), ("date", date21), ("location", "https://www.example.com")],
            [(":status", "200"), ("cache-control", "private"), ("date", date22), ("location", "https://www.example.com"),
             ("content-encoding", "gzip"), ("set-cookie", cookie)],
        ]
        let plain = ["4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d",
                     "4803333037c1c0bf",
                     "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31"]
        let huffman = ["488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
                       "4883640effc1c0bf",
                       "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007"]
        let sizes = [222, 222, 215]
        for (wires, useHuffman) in [(plain, false), (huffman, true)] {
            let decoder = HPACKDecoder(headerTableSize: 256)
            let encoder = HPACKEncoder(maximumTableSize: 256)
            encoder.huffman = useHuffman
            for index in 0..<3 {
                #expect(sameFields(try decode(decoder, bytes(hex: wires[index])), responses[index]))
                #expect(decoder.dynamicTableSize == sizes[index])
                #expect(hex(encode(encoder, responses[index])) == wires[index])
            }
        }
    }
}
