@testable import SwiftletHTTP2
import SwiftletHPACK
import SwiftletHTTP
import Testing

/// The kept response head: replayed only for the same head at the same
/// encoder state, and then byte for byte what encoding would have written.
@Suite("Response head memo (RFC 7541 encoder state)")
struct ResponseHeadMemoTests {
    static func fileHead(type: String = "text/plain", length: String = "1024") -> HTTPFieldList {
        let shared = HTTPFieldList()
        shared.append(name: "server", value: "swiftlet")
        shared.append(name: "content-type", value: type)
        shared.append(name: "content-length", value: length)
        return shared
    }

    static func response(_ shared: HTTPFieldList?, date: String, secret: String? = nil) -> HTTPFieldList {
        let fields = HTTPFieldList()
        if let shared { fields.appendShared(shared) }
        fields.append(name: "date", value: date)
        if let secret {
            Array("x-token".utf8).withUnsafeBytes { name in
                Array(secret.utf8).withUnsafeBytes { fields.append(name: name, value: $0, neverIndexed: true) }
            }
        }
        return fields
    }

    /// Whether `memo` replays `status` and `fields` at `encoder`'s state, and what it writes.
    static func replayed(_ memo: ResponseHeadMemo, _ status: Int, _ fields: HTTPFieldList, _ encoder: HPACKEncoder) -> [UInt8]? {
        var output = HPACKOutput()
        return memo.replay(status: status, fields: fields, generation: encoder.generation, into: &output) ? Array(output.bytes) : nil
    }

    @Test("The first response indexes its fields and is not kept; the second and third change nothing, and from the second such head on (the memory is only taken then) it is kept and replayed as encoded")
    func keptOnceTheTableHoldsTheHead() {
        let encoder = HPACKEncoder()
        var memo = ResponseHeadMemo()
        let shared = Self.fileHead()
        var output = HPACKOutput()

        let first = encoder.generation
        ResponseHeadEncoding.encode(status: 200, fields: Self.response(shared, date: "Tue, 01 Dec 2026 10:00:00 GMT"),
                                    with: encoder, into: &output, memo: &memo)
        #expect(encoder.generation != first, "server, content-type and date entered the table")
        #expect(Self.replayed(memo, 200, Self.response(shared, date: "Tue, 01 Dec 2026 10:00:00 GMT"), encoder) == nil)

        output.removeAll()
        ResponseHeadEncoding.encode(status: 200, fields: Self.response(shared, date: "Tue, 01 Dec 2026 10:00:00 GMT"),
                                    with: encoder, into: &output, memo: &memo)
        #expect(Self.replayed(memo, 200, Self.response(shared, date: "Tue, 01 Dec 2026 10:00:00 GMT"), encoder) == nil,
                "the first head that could be kept only counts")
        output.removeAll()
        ResponseHeadEncoding.encode(status: 200, fields: Self.response(shared, date: "Tue, 01 Dec 2026 10:00:00 GMT"),
                                    with: encoder, into: &output, memo: &memo)
        let second = Array(output.bytes)
        #expect(Self.replayed(memo, 200, Self.response(shared, date: "Tue, 01 Dec 2026 10:00:00 GMT"), encoder) == second)

        // What a fresh encoding at this state writes: the same bytes.
        var fresh = HPACKOutput()
        ResponseHeadEncoding.encode(status: 200, fields: Self.response(shared, date: "Tue, 01 Dec 2026 10:00:00 GMT"),
                                    with: encoder, into: &fresh)
        #expect(Array(fresh.bytes) == second)
    }

    @Test("Any difference misses: status, shared fields object, own value, own name count, never-indexed mark, encoder state")
    func differencesMiss() {
        let encoder = HPACKEncoder()
        var memo = ResponseHeadMemo()
        let shared = Self.fileHead()
        var output = HPACKOutput()
        let date = "Tue, 01 Dec 2026 10:00:00 GMT"
        for _ in 0..<3 {  // indexed, then a candidate, then kept
            output.removeAll()
            ResponseHeadEncoding.encode(status: 200, fields: Self.response(shared, date: date, secret: "a"),
                                        with: encoder, into: &output, memo: &memo)
        }
        #expect(Self.replayed(memo, 200, Self.response(shared, date: date, secret: "a"), encoder) != nil)
        #expect(Self.replayed(memo, 404, Self.response(shared, date: date, secret: "a"), encoder) == nil)
        #expect(Self.replayed(memo, 200, Self.response(Self.fileHead(), date: date, secret: "a"), encoder) == nil,
                "equal fields in another object: not known to be the same")
        #expect(Self.replayed(memo, 200, Self.response(shared, date: "Tue, 01 Dec 2026 10:00:01 GMT", secret: "a"), encoder) == nil)
        #expect(Self.replayed(memo, 200, Self.response(shared, date: date, secret: "b"), encoder) == nil)
        #expect(Self.replayed(memo, 200, Self.response(shared, date: date), encoder) == nil)
        let unmarked = Self.response(shared, date: date)
        unmarked.append(name: "x-token", value: "a")
        #expect(Self.replayed(memo, 200, unmarked, encoder) == nil, "the same field, but not never-indexed")
        encoder.setPeerHeaderTableSize(2048)
        #expect(Self.replayed(memo, 200, Self.response(shared, date: date, secret: "a"), encoder) == nil,
                "a table size change is a new encoder state")
    }

    @Test("Heads of different files are kept side by side: a page's files alternating on one connection all replay")
    func filesSideBySide() {
        let encoder = HPACKEncoder()
        var memo = ResponseHeadMemo()
        let files = (0..<12).map { Self.fileHead(type: "text/f\($0)", length: "\($0)") }
        let date = "Tue, 01 Dec 2026 10:00:00 GMT"
        var output = HPACKOutput()
        for _ in 0..<3 {
            for file in files {
                output.removeAll()
                ResponseHeadEncoding.encode(status: 200, fields: Self.response(file, date: date), with: encoder, into: &output, memo: &memo)
            }
        }
        let replayed = files.filter { Self.replayed(memo, 200, Self.response($0, date: date), encoder) != nil }
        // Direct-mapped by address: files that share a slot take turns, so
        // one head per slot used replays (the last kept).
        let slotsUsed = Set(files.map { ResponseHeadMemo.slot(for: Self.response($0, date: date)) }).count
        #expect(replayed.count == slotsUsed, "\(replayed.count) of 12 replay, \(slotsUsed) slots used")
        #expect(slotsUsed > 1)
        #expect(MemoryLayout<ResponseHeadMemo.Slot>.stride == 40, "64 slots: 2.5 KiB per connection once a head is kept")
    }

    @Test("A head too large to keep is encoded every time")
    func largeHeadsAreNotKept() {
        let encoder = HPACKEncoder()
        var memo = ResponseHeadMemo()
        let big = String(repeating: "v", count: ResponseHeadMemo.maximumBytes)
        var output = HPACKOutput()
        for _ in 0..<3 {
            let fields = HTTPFieldList()
            fields.append(name: "etag", value: big)  // never indexed by policy: the state does not change
            output.removeAll()
            ResponseHeadEncoding.encode(status: 200, fields: fields, with: encoder, into: &output, memo: &memo)
        }
        let fields = HTTPFieldList()
        fields.append(name: "etag", value: big)
        #expect(Self.replayed(memo, 200, fields, encoder) == nil)
    }

    /// A deterministic pseudo-random sequence (no flaky seeds).
    struct Sequence {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
    }

    @Test("Over 2,000 mixed heads, table size changes and Huffman switches, the memo writes exactly what encoding writes, and the peer decodes it")
    func sameBytesAsEncoding() throws {
        let withMemo = HPACKEncoder(), plain = HPACKEncoder()
        var memo = ResponseHeadMemo()
        let decoder = HPACKDecoder()
        let files = [Self.fileHead(), Self.fileHead(type: "text/html", length: "512"), Self.fileHead(type: "image/png", length: "9")]
        let dates = ["Tue, 01 Dec 2026 10:00:00 GMT", "Tue, 01 Dec 2026 10:00:01 GMT"]
        var random = Sequence(state: 2026)
        var replays = 0
        var last: (status: Int, shared: HTTPFieldList?, date: String, secret: String?) = (200, nil, dates[0], nil)
        for _ in 0..<2000 {
            switch random.next(100) {
            case 0:
                let size = [0, 64, 256, 4096][random.next(4)]
                withMemo.setPeerHeaderTableSize(size)
                plain.setPeerHeaderTableSize(size)
            case 1:
                withMemo.huffman.toggle()
                plain.huffman.toggle()
            default: break
            }
            // Runs of the same head, as a connection fetching one file sends.
            if random.next(10) >= 6 {
                last = ([200, 200, 200, 304, 404][random.next(5)], random.next(6) == 0 ? nil : files[random.next(files.count)],
                        dates[random.next(dates.count)], random.next(8) == 0 ? "s\(random.next(2))" : nil)
            }
            let (status, shared, date, secret) = last
            let fields = Self.response(shared, date: date, secret: secret)
            if Self.replayed(memo, status, fields, withMemo) != nil { replays += 1 }

            var expected = HPACKOutput(), actual = HPACKOutput()
            ResponseHeadEncoding.encode(status: status, fields: fields, with: plain, into: &expected)
            ResponseHeadEncoding.encode(status: status, fields: fields, with: withMemo, into: &actual, memo: &memo)
            #expect(Array(actual.bytes) == Array(expected.bytes))
            var sink = FrameClient.Sink()
            try decoder.decode(actual.bytes, into: &sink)
            #expect(sink.fields.first == .init(name: ":status", value: "\(status)"))
            #expect(sink.fields.count == 1 + (shared?.count ?? 0) + 1 + (secret == nil ? 0 : 1))
        }
        #expect(replays > 200, "the sequence exercises replays (\(replays))")
    }
}
