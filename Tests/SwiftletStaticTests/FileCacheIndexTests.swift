@testable import SwiftletStatic
import Testing

/// The file cache's table of entries, with hashes chosen to collide.
@Suite("FileCacheIndex: entries by path hash")
struct FileCacheIndexTests {
    final class Entry: FileCacheIndexEntry {
        let key: [UInt8]
        let hash: Int
        init(_ key: String, hash: Int) {
            self.key = Array(key.utf8)
            self.hash = hash
        }
        func hasKey(_ other: UnsafeRawBufferPointer) -> Bool { key.elementsEqual(other) }
    }

    func find(_ index: FileCacheIndex<Entry>, _ key: String, hash: Int) -> Entry? {
        Array(key.utf8).withUnsafeBytes { index.find(hash: hash, key: $0) }
    }

    @Test("Entries sharing a hash, or a home slot, are all found by key; a missing key is not")
    func collisions() {
        var index = FileCacheIndex<Entry>()
        let a = Entry("/a", hash: 5), b = Entry("/b", hash: 5), c = Entry("/c", hash: 5 + 16), d = Entry("/d", hash: 6)
        for entry in [a, b, c, d] { index.insert(entry) }
        #expect(index.count == 4)
        #expect(find(index, "/a", hash: 5) === a)
        #expect(find(index, "/b", hash: 5) === b)
        #expect(find(index, "/c", hash: 5 + 16) === c)
        #expect(find(index, "/d", hash: 6) === d)
        #expect(find(index, "/e", hash: 5) == nil)
        #expect(find(index, "/a", hash: 6) == nil, "the key under another hash")
    }

    @Test("Removing the head of a run shifts the rest back: every other entry is still found")
    func removalKeepsRunsWhole() {
        var index = FileCacheIndex<Entry>()
        let run = (0..<6).map { Entry("/\($0)", hash: $0 < 3 ? 3 : 3 + $0 - 2) }  // homes 3,3,3,4,5,6
        for entry in run { index.insert(entry) }
        index.remove(run[0])
        #expect(index.count == 5)
        #expect(find(index, "/0", hash: 3) == nil)
        for entry in run.dropFirst() {
            #expect(Array(entry.key).withUnsafeBytes { index.find(hash: entry.hash, key: $0) } === entry, "\(String(decoding: entry.key, as: UTF8.self))")
        }
        index.remove(Entry("/1", hash: 3))  // another object with the same key: not removed
        #expect(index.count == 5)
    }

    @Test("Against a reference over 5,000 inserts and removals through growth, with hashes from a small range")
    func matchesReference() {
        var index = FileCacheIndex<Entry>()
        var reference: [String: Entry] = [:]
        var state: UInt64 = 7541
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        for _ in 0..<5_000 {
            let key = "/\(next(200))"
            if let present = reference[key] {
                if next(2) == 0 { index.remove(present); reference[key] = nil }
            } else {
                let entry = Entry(key, hash: next(64) * 7)  // many collisions
                index.insert(entry)
                reference[key] = entry
            }
            #expect(index.count == reference.count)
        }
        for (key, entry) in reference { #expect(find(index, key, hash: entry.hash) === entry, "\(key)") }
        var seen = 0
        index.forEach { _ in seen += 1 }
        #expect(seen == reference.count)
    }
}
