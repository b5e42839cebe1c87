/// What `FileCacheIndex` needs of an entry: the hash of its key, and
/// whether it is the entry for a key.
protocol FileCacheIndexEntry: AnyObject {
    var hash: Int { get }
    func hasKey(_ key: UnsafeRawBufferPointer) -> Bool
}

/// The file cache's entries by path: an open-addressed table (linear
/// probing, deletion by backward shift) keyed by the hash the cache
/// already computed, so a lookup costs no second hashing (a Swift
/// `Dictionary` would run SipHash over it) and no bucket array.
///
/// At most half full: it doubles before an insert would pass that.
struct FileCacheIndex<Entry: FileCacheIndexEntry> {
    private var slots: [Entry?]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: nil, count: size)
        mask = size - 1
    }

    /// The entry for `key`, whose hash is `hash`.
    func find(hash: Int, key: UnsafeRawBufferPointer) -> Entry? {
        var index = hash & mask
        while let entry = slots[index] {
            if entry.hash == hash && entry.hasKey(key) { return entry }
            index = (index + 1) & mask
        }
        return nil
    }

    mutating func insert(_ entry: Entry) {
        if (count + 1) * 2 > slots.count { grow() }
        var index = entry.hash & mask
        while slots[index] != nil { index = (index + 1) & mask }
        slots[index] = entry
        count += 1
    }

    /// Removes `entry` (this object, not another with its key).
    mutating func remove(_ entry: Entry) {
        var index = entry.hash & mask
        while let found = slots[index], found !== entry { index = (index + 1) & mask }
        guard slots[index] != nil else { return }
        slots[index] = nil
        count -= 1
        // Backward shift: move each later entry of the run whose home is
        // not within (hole, its slot] into the hole, so no probe meets a gap.
        var next = (index + 1) & mask
        while let moving = slots[next] {
            let home = moving.hash & mask
            if (next - home) & mask >= (next - index) & mask {
                slots[index] = moving
                slots[next] = nil
                index = next
            }
            next = (next + 1) & mask
        }
    }

    func forEach(_ body: (Entry) -> Void) {
        for case let entry? in slots { body(entry) }
    }

    private mutating func grow() {
        let entries = slots.compactMap { $0 }
        slots = Array(repeating: nil, count: slots.count * 2)
        mask = slots.count - 1
        count = 0
        for entry in entries { insert(entry) }
    }
}
