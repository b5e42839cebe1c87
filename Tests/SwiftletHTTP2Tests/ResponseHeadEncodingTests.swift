@testable import SwiftletHTTP2
import SwiftletHPACK
import SwiftletHTTP
import Testing

/// Response heads as HPACK blocks, without a connection: what is dropped,
/// how names are written, and how each field may enter the dynamic table.
@Suite("Response heads as HPACK blocks (RFC 9113 §8.2, RFC 7541 §6.2)")
struct ResponseHeadEncodingTests {
    func indexing(_ name: String, valueLength: Int = 10, neverIndexed: Bool = false) -> HPACKIndexing {
        Array(name.utf8).withUnsafeBytes { ResponseHeadEncoding.indexing(name: $0, valueLength: valueLength, neverIndexed: neverIndexed) }
    }

    @Test("RFC 7541 §6.2: secrets never enter the table, per-response values not, the rest do; a field the handler marked stays never-indexed")
    func indexingPolicy() {
        #expect(indexing("authorization") == .never)
        #expect(indexing("set-cookie") == .never)
        for name in ["etag", "content-length", "last-modified", "content-range", "location", "age"] {
            #expect(indexing(name) == .none, "\(name) differs per response")
        }
        #expect(indexing("content-type") == .incremental)
        #expect(indexing("date") == .incremental, "repeats for a whole second")
        #expect(indexing("content-type", valueLength: 257) == .none, "a long value would push out the rest of the table")
        #expect(indexing("content-type", neverIndexed: true) == .never)
    }

    /// The block for `status` and `fields`, decoded again.
    func roundTrip(status: Int?, _ fields: HTTPFieldList) throws -> [Frame.Field] {
        var output = HPACKOutput()
        ResponseHeadEncoding.encode(status: status, fields: fields, with: HPACKEncoder(), into: &output)
        var sink = FrameClient.Sink()
        try HPACKDecoder().decode(output.bytes, into: &sink)
        return sink.fields
    }

    @Test("§8.2.1–§8.2.2: names are lowercased, connection-specific fields dropped, :status first, marked fields never indexed")
    func encode() throws {
        let fields = HTTPFieldList()
        fields.append(name: "Content-Type", value: "text/plain")
        fields.append(name: "Connection", value: "close")
        fields.append(name: "transfer-encoding", value: "chunked")
        fields.append(name: "Keep-Alive", value: "timeout=5")
        "s3cr3t".utf8.withContiguousStorageIfAvailable { value in
            "x-token".utf8.withContiguousStorageIfAvailable { name in
                fields.append(name: UnsafeRawBufferPointer(name), value: UnsafeRawBufferPointer(value), neverIndexed: true)
            }
        }
        fields.append(name: "Set-Cookie", value: "a=1")
        #expect(try roundTrip(status: 204, fields) == [
            .init(name: ":status", value: "204"),
            .init(name: "content-type", value: "text/plain"),
            .init(name: "x-token", value: "s3cr3t", neverIndexed: true),
            .init(name: "set-cookie", value: "a=1", neverIndexed: true),
        ])
    }

    @Test("Trailers have no :status; shared fields go through their preparation, kept for the next response")
    func trailersAndSharedFields() throws {
        let shared = HTTPFieldList()
        shared.append(name: "Content-Type", value: "text/html")
        shared.append(name: "Connection", value: "keep-alive")
        let fields = HTTPFieldList()
        fields.appendShared(shared)
        fields.append(name: "grpc-status", value: "0")
        #expect(try roundTrip(status: nil, fields) == [
            .init(name: "content-type", value: "text/html"),
            .init(name: "grpc-status", value: "0"),
        ])
        #expect(shared.encodingCache is HPACKPreparedFields, "prepared once, kept with the shared fields")
    }
}
