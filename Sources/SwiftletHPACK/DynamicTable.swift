import Glibc

/// The HPACK dynamic table (RFC 7541 §2.3.2, §4): a FIFO of fields, newest
/// first, whose size is Σ(name + value + 32) and never exceeds `maximumSize`.
///
/// Entry bytes live in one buffer. Entries are appended back to back, so
/// each entry's name and value are contiguous and can be handed out as spans.
/// Evicting the oldest entry only moves a position; when the tail reaches
/// the end of the buffer, the live entries are moved to the front in one
/// `memmove`. A ring of descriptors indexes the entries.
///
/// Memory follows use, not the limit: a table nothing was inserted into
/// holds no memory (an idle connection's two tables cost nothing), and the
/// buffer and ring grow, by doubling, to what the fields inserted need, at
/// most twice `limit` bytes and `limit / 32` descriptors. After a
/// compaction at least half the buffer is free, so the `memmove`s cost
/// O(1) per inserted byte. The ring and the bytes share one allocation
/// (the ring first): a connection's first insert allocates once. Once
/// grown, inserting allocates nothing.
///
/// Spans returned by `field(at:)` are valid until the next `insert` or
/// `setMaximumSize`.
final class DynamicTable {
    struct Entry {
        var position: Int      // monotonic position of the name's first byte
        var nameLength: Int32
        var valueLength: Int32
        var nameHash: UInt32
        var fieldHash: UInt32
    }

    /// The largest `maximumSize` this table accepts (the SETTINGS value we
    /// advertised, or the encoder's own cap).
    let limit: Int
    /// Whether entries carry the hashes `find` needs: the encoder's table
    /// searches, the decoder's only indexes, so it skips hashing every
    /// inserted field.
    let searchable: Bool
    /// The first block's descriptor slots and bytes (each doubles with use).
    private let firstSlots: Int32
    private let firstBytes: Int32
    /// The ring's and the bytes' memory; nil until the first insert.
    private var storage: UnsafeMutableRawPointer?
    /// Entry bytes, in `storage` after the ring.
    private var bytes: UnsafeMutablePointer<UInt8>?
    private var byteCapacity = 0
    /// Scratch for a name that must survive an insert that may evict it.
    private var scratch: UnsafeMutablePointer<UInt8>?
    private var scratchCapacity = 0
    private var basePosition = 0      // position of bytes[0]
    private var tailPosition = 0      // position of the next byte to write
    /// The ring of descriptors (a power of two long), at the start of `storage`.
    private var entries: UnsafeMutablePointer<Entry>?
    private var entryMask = -1
    private var oldest = 0            // monotonic entry number of the oldest entry
    private var entryCount = 0
    /// RFC 7541 size of the live entries.
    private(set) var size = 0
    /// The current maximum size (≤ limit).
    private(set) var maximumSize: Int
    /// Entries ever inserted (for the encoder's bookkeeping).
    private(set) var insertCount = 0

    /// - Parameters:
    ///   - firstSlots: descriptor slots of the first block (a power of two).
    ///   - firstBytes: field bytes of the first block.
    init(limit: Int, searchable: Bool = true, firstSlots: Int = 8, firstBytes: Int = 256) {
        precondition(firstSlots > 0 && firstSlots & (firstSlots - 1) == 0 && firstBytes > 0)
        self.limit = limit
        self.searchable = searchable
        self.firstSlots = Int32(firstSlots)
        self.firstBytes = Int32(firstBytes)
        maximumSize = limit
    }

    deinit {
        storage?.deallocate()
        scratch?.deallocate()
    }

    /// Bytes of memory the table holds (buffer, scratch and descriptors).
    var allocatedBytes: Int {
        byteCapacity + scratchCapacity + (entryMask + 1) * MemoryLayout<Entry>.stride
    }

    var count: Int { entryCount }

    /// The field at dynamic index `index` (0 = newest).
    @inline(__always)
    func field(at index: Int) -> (name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let entry = entries.unsafelyUnwrapped[(oldest + entryCount - 1 - index) & entryMask]
        let start = bytes.unsafelyUnwrapped + (entry.position - basePosition)
        return (UnsafeRawBufferPointer(start: start, count: Int(entry.nameLength)),
                UnsafeRawBufferPointer(start: start + Int(entry.nameLength), count: Int(entry.valueLength)))
    }

    /// For the encoder: the dynamic index (0 = newest) of the entry that is
    /// exactly `name: value`, else, if `wantsName`, of the newest entry
    /// named `name`. Candidates are picked by hash and confirmed by bytes
    /// (only in a `searchable` table).
    func find(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, nameHash: UInt32, fieldHash: UInt32,
              wantsName: Bool) -> (full: Int?, name: Int?) {
        precondition(searchable, "find needs a table whose entries carry hashes")
        guard entryCount > 0 else { return (nil, nil) }
        // Locals, so the loop keeps them in registers.
        let (entries, mask, newest) = (entries.unsafelyUnwrapped, entryMask, oldest + entryCount - 1)
        let (bytes, basePosition) = (bytes.unsafelyUnwrapped, basePosition)
        var nameIndex: Int?
        for index in 0..<entryCount {
            let entry = entries[(newest - index) & mask]
            let start = bytes + (entry.position - basePosition)
            let entryName = UnsafeRawBufferPointer(start: start, count: Int(entry.nameLength))
            if entry.fieldHash == fieldHash, equal(entryName, name),
               equal(UnsafeRawBufferPointer(start: start + Int(entry.nameLength), count: Int(entry.valueLength)), value) {
                return (index, nil)
            }
            if wantsName, nameIndex == nil, entry.nameHash == nameHash, equal(entryName, name) { nameIndex = index }
        }
        return (nil, nameIndex)
    }

    /// Empties the table and restores the maximum size to `maximumSize`
    /// (no allocation).
    func reset(maximumSize newSize: Int) {
        oldest = 0
        entryCount = 0
        size = 0
        basePosition = 0
        tailPosition = 0
        maximumSize = min(newSize, limit)
    }

    /// Changes the maximum size, evicting as needed (§4.3).
    func setMaximumSize(_ newSize: Int) {
        precondition(newSize <= limit)
        maximumSize = newSize
        evict(toFit: 0)
    }

    /// Adds a field (§4.4). An entry larger than the maximum size empties
    /// the table and is not added (not an error).
    func insert(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
                nameHash: UInt32? = nil, fieldHash: UInt32? = nil) {
        let entrySize = name.count + value.count + 32
        guard entrySize <= maximumSize else {
            evict(toFit: maximumSize + 1)
            return
        }
        var name = name
        // The name may be one of our own entries, which eviction or compaction
        // below could overwrite: keep a copy (§4.4's caution).
        if name.count > 0, let start = name.baseAddress, let bytes,
           start >= UnsafeRawPointer(bytes), start < UnsafeRawPointer(bytes + byteCapacity) {
            if scratchCapacity < name.count {
                scratch?.deallocate()
                scratchCapacity = max(name.count, min(limit, 64))
                scratch = .allocate(capacity: scratchCapacity)
            }
            scratch!.update(from: start.assumingMemoryBound(to: UInt8.self), count: name.count)
            name = UnsafeRawBufferPointer(start: scratch, count: name.count)
        }
        evict(toFit: entrySize)
        let length = name.count + value.count
        if entryCount == entryMask + 1 { growEntries() }
        if bytes == nil || tailPosition - basePosition + length > byteCapacity { makeRoom(for: length) }
        let destination = bytes.unsafelyUnwrapped + (tailPosition - basePosition)
        if name.count > 0 { UnsafeMutableRawPointer(destination).copyMemory(from: name.baseAddress!, byteCount: name.count) }
        if value.count > 0 { UnsafeMutableRawPointer(destination + name.count).copyMemory(from: value.baseAddress!, byteCount: value.count) }
        let entry = Entry(position: tailPosition, nameLength: Int32(name.count), valueLength: Int32(value.count),
                          nameHash: searchable ? nameHash ?? FieldHash.hash(name) : 0,
                          fieldHash: searchable ? fieldHash ?? FieldHash.hash(name: name, value: value) : 0)
        entries.unsafelyUnwrapped[(oldest + entryCount) & entryMask] = entry
        entryCount += 1
        tailPosition += length
        size += entrySize
        insertCount += 1
    }

    /// Evicts oldest entries until `extra` more bytes fit.
    private func evict(toFit extra: Int) {
        while entryCount > 0 && size + extra > maximumSize {
            let entry = entries.unsafelyUnwrapped[oldest & entryMask]
            size -= Int(entry.nameLength) + Int(entry.valueLength) + 32
            oldest += 1
            entryCount -= 1
        }
        if entryCount == 0 {
            basePosition = tailPosition
        }
    }

    /// Makes `length` more bytes fit after the tail: moves the live bytes
    /// to the front, and grows the buffer (doubling, at most twice the
    /// limit) when that would leave less than half of it free.
    private func makeRoom(for length: Int) {
        let live = tailPosition - liveStart
        let first = Int(firstBytes)
        var capacity = max(byteCapacity, first)
        while capacity < 2 * (live + length) && capacity < 2 * limit { capacity *= 2 }
        capacity = min(capacity, max(2 * limit, first))
        if capacity != byteCapacity {
            reallocate(slots: entryMask + 1, byteCapacity: capacity)
        } else {
            if live > 0 { memmove(bytes.unsafelyUnwrapped, bytes.unsafelyUnwrapped + (liveStart - basePosition), live) }
            basePosition = liveStart
        }
    }

    /// Doubles the descriptor ring (it starts at `firstSlots`), keeping entry numbers.
    private func growEntries() {
        reallocate(slots: max(Int(firstSlots), (entryMask + 1) * 2), byteCapacity: max(byteCapacity, Int(firstBytes)))
    }

    /// The position of the oldest live byte.
    private var liveStart: Int {
        entryCount > 0 ? entries.unsafelyUnwrapped[oldest & entryMask].position : tailPosition
    }

    /// Moves the ring and the live bytes into new memory of the given sizes
    /// (the bytes to its front).
    private func reallocate(slots: Int, byteCapacity capacity: Int) {
        let ringBytes = slots * MemoryLayout<Entry>.stride
        let memory = UnsafeMutableRawPointer.allocate(byteCount: ringBytes + capacity, alignment: MemoryLayout<Entry>.alignment)
        let newEntries = memory.bindMemory(to: Entry.self, capacity: slots)
        let newBytes = (memory + ringBytes).bindMemory(to: UInt8.self, capacity: capacity)
        let start = liveStart
        for number in oldest..<oldest + entryCount {
            (newEntries + (number & (slots - 1))).initialize(to: entries.unsafelyUnwrapped[number & entryMask])
        }
        let live = tailPosition - start
        if live > 0 { newBytes.update(from: bytes.unsafelyUnwrapped + (start - basePosition), count: live) }
        storage?.deallocate()
        storage = memory
        entries = newEntries
        entryMask = slots - 1
        bytes = newBytes
        byteCapacity = capacity
        basePosition = start
    }
}
