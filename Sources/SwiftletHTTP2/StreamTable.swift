/// The open streams of a connection, by id: an open-addressed table with
/// linear probing, and no allocation once it has grown (doubling) to the
/// most streams the connection had open at once.
///
/// A stream's first slot is its id times 2⁶⁴/φ, top bits (Fibonacci
/// hashing): consecutive ids land far apart. (With `id >> 1` they sat in
/// one run, and removing the oldest of 16 open streams walked all 15
/// others to see whether one had to move back.)
struct StreamTable<Stream: SchedulableStream> {
    private var slots: [Stream?]
    private var mask: Int
    /// 64 − log2(slot count): the top bits of the product are the slot.
    private var shift: UInt64
    private(set) var count = 0

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: nil, count: size)
        mask = size - 1
        shift = UInt64(64 - size.trailingZeroBitCount)
    }

    @inline(__always)
    private func home(_ id: UInt32) -> Int {
        Int(truncatingIfNeeded: (UInt64(id) &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    var isEmpty: Bool { count == 0 }

    subscript(id: UInt32) -> Stream? {
        var index = home(id)
        while let stream = slots[index] {
            if stream.id == id { return stream }
            index = (index + 1) & mask
        }
        return nil
    }

    mutating func insert(_ stream: Stream) {
        if (count + 1) * 2 > slots.count { grow() }
        var index = home(stream.id)
        while slots[index] != nil { index = (index + 1) & mask }
        // The slot holds nil, which needs no release: initialize it in place
        // (an assignment calls swift_release on the nil it replaces).
        slots.withUnsafeMutableBufferPointer { ($0.baseAddress! + index).initialize(to: stream) }
        count += 1
    }

    /// Removes the stream whose id is `id` (backward-shift deletion keeps
    /// probe chains intact without tombstones) and hands the table's
    /// reference to it to the caller (which can pass it on without
    /// reference counting).
    @discardableResult
    mutating func remove(_ id: UInt32) -> Stream? {
        var index = home(id)
        while let stream = slots[index] {
            if stream.id == id { break }
            index = (index + 1) & mask
        }
        guard let removed = slots[index].take() else { return nil }
        count -= 1
        var next = (index + 1) & mask
        while let moving = slots[next] {
            let movingHome = home(moving.id)
            // Move it back if its home is not within (index, next].
            let distanceToHole = (next - movingHome) & mask
            let distanceToNext = (next - index) & mask
            if distanceToHole >= distanceToNext {
                slots[index] = moving
                slots[next] = nil
                index = next
            }
            next = (next + 1) & mask
        }
        return removed
    }

    /// Every stream (for shutdown paths; allocates).
    var all: [Stream] { slots.compactMap { $0 } }

    /// Visits every stream without allocating (the body must not insert or remove).
    func forEach(_ body: (Stream) -> Void) {
        for slot in slots { if let stream = slot { body(stream) } }
    }

    private mutating func grow() {
        let old = slots.compactMap { $0 }
        slots = Array(repeating: nil, count: slots.count * 2)
        mask = slots.count - 1
        shift = UInt64(64 - slots.count.trailingZeroBitCount)
        count = 0
        for stream in old { insert(stream) }
    }
}
