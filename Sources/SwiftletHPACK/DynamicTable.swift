import Glibc

/// The HPACK dynamic table (RFC 7541 §2.3.2, §4): a FIFO of fields, newest
/// first, whose size is Σ(name + value + 32) and never exceeds `maximumSize`.
///
/// Storage is one byte buffer of twice the hard limit. Entries are appended
/// back to back, so each entry's name and value are contiguous and can be
/// handed out as spans. Evicting the oldest entry only moves a position;
/// when the tail reaches the end of the buffer, the live entries (at most
/// `limit` bytes) are moved to the front in one `memmove`, which happens at
/// most once per `limit` inserted bytes. A ring of descriptors indexes the
/// entries. Nothing is allocated after `init`.
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
    private let bytes: UnsafeMutablePointer<UInt8>
    private let byteCapacity: Int
    /// Scratch for a name that must survive an insert that may evict it.
    private let scratch: UnsafeMutablePointer<UInt8>
    private var basePosition = 0      // position of bytes[0]
    private var tailPosition = 0      // position of the next byte to write
    private let entries: UnsafeMutablePointer<Entry>
    private let entryMask: Int
    private var oldest = 0            // monotonic entry number of the oldest entry
    private var entryCount = 0
    /// RFC 7541 size of the live entries.
    private(set) var size = 0
    /// The current maximum size (≤ limit).
    private(set) var maximumSize: Int
    /// Entries ever inserted (for the encoder's bookkeeping).
    private(set) var insertCount = 0

    init(limit: Int) {
        self.limit = limit
        maximumSize = limit
        byteCapacity = max(2 * limit, 64)
        bytes = .allocate(capacity: byteCapacity)
        scratch = .allocate(capacity: max(limit, 1))
        var slots = 1
        while slots < limit / 32 + 1 { slots <<= 1 }
        entryMask = slots - 1
        entries = .allocate(capacity: slots)
    }

    deinit {
        bytes.deallocate()
        scratch.deallocate()
        entries.deallocate()
    }

    var count: Int { entryCount }

    /// The field at dynamic index `index` (0 = newest).
    @inline(__always)
    func field(at index: Int) -> (name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let entry = entries[(oldest + entryCount - 1 - index) & entryMask]
        let start = bytes + (entry.position - basePosition)
        return (UnsafeRawBufferPointer(start: start, count: Int(entry.nameLength)),
                UnsafeRawBufferPointer(start: start + Int(entry.nameLength), count: Int(entry.valueLength)))
    }

    /// Hashes of the entry at dynamic index `index` (0 = newest).
    @inline(__always)
    func hashes(at index: Int) -> (name: UInt32, field: UInt32) {
        let entry = entries[(oldest + entryCount - 1 - index) & entryMask]
        return (entry.nameHash, entry.fieldHash)
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
        if name.count > 0, let start = name.baseAddress,
           start >= UnsafeRawPointer(bytes), start < UnsafeRawPointer(bytes + byteCapacity) {
            scratch.update(from: start.assumingMemoryBound(to: UInt8.self), count: name.count)
            name = UnsafeRawBufferPointer(start: scratch, count: name.count)
        }
        evict(toFit: entrySize)
        let length = name.count + value.count
        if tailPosition - basePosition + length > byteCapacity { compact() }
        let destination = bytes + (tailPosition - basePosition)
        if name.count > 0 { UnsafeMutableRawPointer(destination).copyMemory(from: name.baseAddress!, byteCount: name.count) }
        if value.count > 0 { UnsafeMutableRawPointer(destination + name.count).copyMemory(from: value.baseAddress!, byteCount: value.count) }
        let entry = Entry(position: tailPosition, nameLength: Int32(name.count), valueLength: Int32(value.count),
                          nameHash: nameHash ?? FieldHash.hash(name),
                          fieldHash: fieldHash ?? FieldHash.hash(name: name, value: value))
        entries[(oldest + entryCount) & entryMask] = entry
        entryCount += 1
        tailPosition += length
        size += entrySize
        insertCount += 1
    }

    /// Evicts oldest entries until `extra` more bytes fit.
    private func evict(toFit extra: Int) {
        while entryCount > 0 && size + extra > maximumSize {
            let entry = entries[oldest & entryMask]
            size -= Int(entry.nameLength) + Int(entry.valueLength) + 32
            oldest += 1
            entryCount -= 1
        }
        if entryCount == 0 {
            basePosition = tailPosition
        }
    }

    /// Moves the live bytes to the front of the buffer.
    private func compact() {
        guard entryCount > 0 else {
            basePosition = tailPosition
            return
        }
        let start = entries[oldest & entryMask].position
        let live = tailPosition - start
        memmove(bytes, bytes + (start - basePosition), live)
        basePosition = start
    }
}
