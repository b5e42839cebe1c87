import Testing
@testable import SwiftletHPACK

/// The dynamic table against a model (an array, newest first, evicting from
/// the end), through growth, compaction and eviction.
@Suite("Dynamic table (RFC 7541 §4): contents, and memory that follows use")
struct DynamicTableTests {
    struct Model {
        var fields: [(String, String)] = []
        var maximumSize: Int
        var size: Int { fields.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count + 32 } }

        mutating func insert(_ name: String, _ value: String) {
            let entry = name.utf8.count + value.utf8.count + 32
            guard entry <= maximumSize else { fields.removeAll(); return }
            while size + entry > maximumSize { fields.removeLast() }
            fields.insert((name, value), at: 0)
        }
    }

    func contents(_ table: DynamicTable) -> [(String, String)] {
        (0..<table.count).map { index in
            let field = table.field(at: index)
            return (String(decoding: field.name, as: UTF8.self), String(decoding: field.value, as: UTF8.self))
        }
    }

    func insert(_ table: DynamicTable, _ name: String, _ value: String) {
        Array(name.utf8).withUnsafeBytes { n in Array(value.utf8).withUnsafeBytes { v in table.insert(name: n, value: v) } }
    }

    @Test("an unused table holds no memory")
    func emptyHoldsNothing() {
        let table = DynamicTable(limit: 4096)
        #expect(table.allocatedBytes == 0)
        insert(table, "", "")  // an entry of two empty strings still has a place
        #expect(table.count == 1 && table.size == 32)
        #expect(table.allocatedBytes > 0)
    }

    @Test("the first block is as asked (a decoder's is small) and doubles with use")
    func firstBlock() {
        let entry = MemoryLayout<DynamicTable.Entry>.stride
        let small = DynamicTable(limit: 4096, searchable: false, firstSlots: 4, firstBytes: 128)
        insert(small, ":path", "/1k.bin")
        insert(small, ":authority", "127.0.0.1:8080")
        #expect(small.allocatedBytes == 4 * entry + 128, "two short fields fit the first block")
        for index in 0..<3 { insert(small, "x-field-\(index)", "value") }
        #expect(small.allocatedBytes == 8 * entry + 128, "a fifth entry doubles the descriptors")
        insert(small, "user-agent", String(repeating: "u", count: 120))
        #expect(small.allocatedBytes == 8 * entry + 512, "bytes double until half stays free")
        #expect(contents(small).count == 6)

        let usual = DynamicTable(limit: 4096)
        insert(usual, ":path", "/1k.bin")
        #expect(usual.allocatedBytes == 8 * entry + 256)
        let decoder = HPACKDecoder()
        #expect(decoder.table.allocatedBytes == 0)
        let block: [UInt8] = [0x44, 0x07] + Array("/1k.bin".utf8)  // :path, literal with incremental indexing
        var sink = CollectingSink()
        #expect(throws: Never.self) { try block.withUnsafeBytes { try decoder.decode($0, into: &sink) } }
        #expect(decoder.table.allocatedBytes == 4 * entry + 128, "a decoder starts small")
    }

    struct CollectingSink: HPACKSink {
        var fields: [String] = []
        mutating func field(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, neverIndexed: Bool) {
            fields.append(String(decoding: name, as: UTF8.self) + ": " + String(decoding: value, as: UTF8.self))
        }
    }

    @Test("matches the model through growth, compaction and eviction; memory stays within twice the limit",
          arguments: [(256, 8, 256), (4096, 8, 256), (65536, 8, 256), (4096, 4, 128)])
    func againstModel(limit: Int, firstSlots: Int, firstBytes: Int) {
        let table = DynamicTable(limit: limit, firstSlots: firstSlots, firstBytes: firstBytes)
        var model = Model(maximumSize: limit)
        var generator = SystemRandomNumberGenerator()
        var grewTo: [Int] = []
        for step in 0..<3000 {
            let name = "name-\(step % 37)"
            let value = String(repeating: "v", count: Int.random(in: 0...(step % 100 == 0 ? limit / 2 : 80), using: &generator))
            if step == 1500 {  // a smaller maximum, then back
                table.setMaximumSize(limit / 4)
                model.maximumSize = limit / 4
                while model.size > model.maximumSize { model.fields.removeLast() }
            }
            if step == 2000 {
                table.setMaximumSize(limit)
                model.maximumSize = limit
            }
            insert(table, name, value)
            model.insert(name, value)
            if grewTo.last != table.allocatedBytes { grewTo.append(table.allocatedBytes) }
            #expect(table.size == model.size)
            let got = contents(table)
            #expect(got.count == model.fields.count)
            #expect(zip(got, model.fields).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }, "step \(step)")
        }
        let descriptors = (limit / 32 + 1).nextPowerOfTwo * MemoryLayout<DynamicTable.Entry>.stride
        #expect(grewTo.allSatisfy { $0 <= 2 * max(limit, 128) + limit + descriptors }, "\(grewTo)")
    }

    @Test("a name taken from the table itself survives the evictions its insert causes (§4.4)")
    func nameFromOwnEntry() {
        let table = DynamicTable(limit: 100)
        insert(table, "x-long-name", "0123456789")     // 11 + 10 + 32 = 53
        let own = table.field(at: 0).name
        Array("abcdefghij".utf8).withUnsafeBytes { value in
            table.insert(name: own, value: value)  // 53 + 53 > 100: evicts the entry it names
        }
        #expect(contents(table).count == 1)
        #expect(contents(table).first?.0 == "x-long-name")
        #expect(contents(table).first?.1 == "abcdefghij")
    }
}

extension Int {
    var nextPowerOfTwo: Int {
        var value = 1
        while value < self { value <<= 1 }
        return value
    }
}
