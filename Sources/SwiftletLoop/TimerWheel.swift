/// Identifies a scheduled timer. Stale IDs (fired or cancelled timers) are
/// recognised by their generation and ignored.
public struct TimerID: Hashable, Sendable {
    let index: UInt32
    let generation: UInt32

    @usableFromInline
    init(index: UInt32, generation: UInt32) {
        self.index = index
        self.generation = generation
    }

    /// An id no wheel issues (a wheel's slab indices fit in an `Int32`):
    /// `ConnectionTimers` marks a name without a pending timer with it,
    /// which keeps an id in 8 bytes instead of an optional's 12.
    @inlinable
    static var unissued: TimerID { TimerID(index: .max, generation: 0) }
}

/// Something that owns timers without allocating a closure per timer:
/// connections schedule `(self, tag)` and switch on the tag.
public protocol TimerTarget: AnyObject {
    func timerFired(_ id: TimerID, tag: UInt64)
}

/// A hashed timing wheel: O(1) schedule and cancel, expiry in deadline order.
///
/// Time is cut into ticks (1 ms by default). A timer due in tick `t` sits in
/// slot `t mod slotCount`, in an intrusive doubly linked list threaded through
/// a slab of nodes; a timer more than one revolution away shares the slot
/// with nearer ones and is skipped until its own tick comes round. Nodes are
/// recycled through a free list, so once the slab has grown to the peak
/// number of live timers, scheduling and cancelling allocate nothing.
///
///     slots:  [0] [1] [2] ... [t mod n] ... [n-1]       bitmap: which slots are non-empty
///                              │
///                              ▼
///     slab:   node ⇄ node ⇄ node   (deadline, generation, target or closure)
///
/// `advance(to:)` visits the slots of the ticks that passed (at most one
/// revolution), collects the nodes whose deadline has come, and fires them in
/// deadline order (ties in scheduling order). A callback may schedule or
/// cancel any timer, including one collected in the same pass.
public final class TimerWheel {
    struct Node {
        var deadline: UInt64 = 0
        var sequence: UInt64 = 0
        var previous: Int32 = -1
        var next: Int32 = -1       // also links the free list
        var slot: Int32 = -1       // -1: free or collected for firing
        var generation: UInt32 = 0
        var live = false
        var tag: UInt64 = 0
        var target: (any TimerTarget)?
        var action: (() -> Void)?
    }

    struct Expired {
        var deadline: UInt64
        var sequence: UInt64
        var index: Int32
        var generation: UInt32
    }

    public let tickNanoseconds: UInt64
    private let slotCount: Int
    private let slotMask: Int
    // The slab, slot lists and expiry buffer live in manually managed memory:
    // mutating Swift arrays of reference-holding structs in a class keeps
    // dynamic exclusivity checks and copy-on-write checks on every access.
    private let heads: UnsafeMutablePointer<Int32>
    private let tails: UnsafeMutablePointer<Int32>
    private let occupied: UnsafeMutablePointer<UInt64>
    private var nodes: UnsafeMutablePointer<Node>
    private var nodeCapacity = 0
    private var nodesUsed = 0
    private var freeHead: Int32 = -1
    private var expired: UnsafeMutablePointer<Expired>
    private var expiredCapacity = 64
    private var expiredCount = 0
    /// The earliest tick `advance` has not finished with (the current
    /// tick is visited again: timers later in it may come due). Kept as
    /// the first unprocessed tick rather than the last processed one, which
    /// at a clock below one tick would be -1 and wrap.
    private var firstUnprocessedTick: UInt64
    private var sequence: UInt64 = 0
    private var liveCount = 0
    /// Live timers.
    public var count: Int { liveCount }

    /// - Parameters:
    ///   - now: the clock reading the wheel starts at.
    ///   - tick: resolution; timers never fire early, and at most one tick late
    ///     plus the loop's own latency.
    ///   - slotCount: a power of two; one revolution is `slotCount × tick`.
    public init(now: UInt64, tick: Duration = .milliseconds(1), slotCount: Int = 4096) {
        precondition(slotCount > 0 && slotCount & (slotCount - 1) == 0 && slotCount >= 64)
        tickNanoseconds = max(1, tick.nanoseconds)
        self.slotCount = slotCount
        slotMask = slotCount - 1
        heads = .allocate(capacity: slotCount)
        heads.initialize(repeating: -1, count: slotCount)
        tails = .allocate(capacity: slotCount)
        tails.initialize(repeating: -1, count: slotCount)
        occupied = .allocate(capacity: slotCount / 64)
        occupied.initialize(repeating: 0, count: slotCount / 64)
        nodeCapacity = 64
        nodes = .allocate(capacity: nodeCapacity)
        expired = .allocate(capacity: expiredCapacity)
        firstUnprocessedTick = now / tickNanoseconds
    }

    deinit {
        nodes.deinitialize(count: nodesUsed)
        nodes.deallocate()
        expired.deallocate()
        heads.deallocate()
        tails.deallocate()
        occupied.deallocate()
    }

    // MARK: scheduling

    /// Schedules `target.timerFired(id, tag:)` at `deadline` (clock nanoseconds).
    @discardableResult
    public func schedule(at deadline: UInt64, target: any TimerTarget, tag: UInt64 = 0) -> TimerID {
        insert(deadline: deadline, target: target, tag: tag, action: nil)
    }

    /// Schedules `action` at `deadline` (clock nanoseconds).
    @discardableResult
    public func schedule(at deadline: UInt64, _ action: @escaping () -> Void) -> TimerID {
        insert(deadline: deadline, target: nil, tag: 0, action: action)
    }

    /// Cancels a timer; returns false if it already fired or was cancelled.
    @discardableResult
    public func cancel(_ id: TimerID) -> Bool {
        let index = Int(id.index)
        guard index < nodesUsed, nodes[index].generation == id.generation, nodes[index].live else { return false }
        if nodes[index].slot >= 0 { unlink(Int32(index)) }
        release(Int32(index))
        return true
    }

    /// Whether `id` is still scheduled.
    public func isScheduled(_ id: TimerID) -> Bool {
        let index = Int(id.index)
        return index < nodesUsed && nodes[index].generation == id.generation && nodes[index].live
    }

    // MARK: expiry

    /// Fires every timer whose deadline is at or before `now`; returns how many fired.
    @discardableResult
    public func advance(to now: UInt64) -> Int {
        let nowTick = now / tickNanoseconds
        guard liveCount > 0 else {
            firstUnprocessedTick = nowTick
            return 0
        }
        expiredCount = 0
        var tick = firstUnprocessedTick
        var visited = 0
        while tick <= nowTick && visited <= slotMask {
            let slot = Int(tick & UInt64(slotMask))
            var cursor = heads[slot]
            while cursor >= 0 {
                let node = nodes + Int(cursor)
                let next = node.pointee.next
                if node.pointee.deadline <= now {
                    unlink(cursor)
                    appendExpired(Expired(deadline: node.pointee.deadline, sequence: node.pointee.sequence,
                                          index: cursor, generation: node.pointee.generation))
                }
                cursor = next
            }
            tick &+= 1
            visited += 1
        }
        // The current tick's slot may hold timers due later in this tick; it
        // is visited again next time.
        firstUnprocessedTick = nowTick
        if expiredCount > 1 { sortExpired() }
        var fired = 0
        var position = 0
        // Callbacks may schedule and cancel (even an entry collected here, which
        // the generation check then skips), but never call `advance`.
        let batchCount = expiredCount
        while position < batchCount {
            let entry = expired[position]
            position += 1
            let node = nodes + Int(entry.index)
            guard node.pointee.generation == entry.generation, node.pointee.live else { continue }
            let target = node.pointee.target
            let action = node.pointee.action
            let tag = node.pointee.tag
            let id = TimerID(index: UInt32(entry.index), generation: entry.generation)
            release(entry.index)
            fired += 1
            if let target {
                target.timerFired(id, tag: tag)
            } else {
                action?()
            }
        }
        return fired
    }

    /// The earliest time at which `advance` could fire something, or nil when
    /// no timer is scheduled. Never later than the earliest deadline; may be
    /// earlier for timers more than one revolution away (the loop then wakes,
    /// finds nothing due, and asks again).
    public func nextDeadline() -> UInt64? {
        guard liveCount > 0 else { return nil }
        var tick = firstUnprocessedTick
        var scanned = 0
        while scanned < slotCount {
            let slot = Int(tick & UInt64(slotMask))
            let word = occupied[slot >> 6] >> UInt64(slot & 63)
            if word == 0 {
                // Skip the rest of this 64-slot word.
                let skip = 64 - (slot & 63)
                tick &+= UInt64(skip)
                scanned += skip
                continue
            }
            let step = word.trailingZeroBitCount
            if step > 0 {
                tick &+= UInt64(step)
                scanned += step
                continue
            }
            // A non-empty slot: the earliest deadline in it that falls in this tick.
            let tickEnd = (tick &+ 1) &* tickNanoseconds
            var best = UInt64.max
            var cursor = heads[slot]
            while cursor >= 0 {
                let deadline = nodes[Int(cursor)].deadline
                if deadline < tickEnd, deadline < best { best = deadline }
                cursor = nodes[Int(cursor)].next
            }
            if best != .max { return best }
            tick &+= 1
            scanned += 1
        }
        // Everything is more than a revolution away: wake once per revolution.
        return (firstUnprocessedTick &+ UInt64(slotCount)) &* tickNanoseconds
    }

    // MARK: expiry buffer

    private func appendExpired(_ entry: Expired) {
        if expiredCount == expiredCapacity {
            let bigger = UnsafeMutablePointer<Expired>.allocate(capacity: expiredCapacity * 2)
            bigger.moveInitialize(from: expired, count: expiredCount)
            expired.deallocate()
            expired = bigger
            expiredCapacity *= 2
        }
        (expired + expiredCount).initialize(to: entry)
        expiredCount += 1
    }

    /// Heapsort of the expired entries by (deadline, sequence): in place, so
    /// firing allocates nothing.
    private func sortExpired() {
        let items = expired
        func less(_ a: Int, _ b: Int) -> Bool {
            let x = items[a], y = items[b]
            return x.deadline != y.deadline ? x.deadline < y.deadline : x.sequence < y.sequence
        }
        func siftDown(_ start: Int, _ end: Int) {
            var root = start
            while true {
                var child = 2 * root + 1
                if child >= end { return }
                if child + 1 < end && less(child, child + 1) { child += 1 }
                if !less(root, child) { return }
                swap(&items[root], &items[child])
                root = child
            }
        }
        let n = expiredCount
        var start = n / 2 - 1
        while start >= 0 {
            siftDown(start, n)
            start -= 1
        }
        var end = n - 1
        while end > 0 {
            swap(&items[0], &items[end])
            siftDown(0, end)
            end -= 1
        }
    }

    // MARK: slab

    private func takeNode() -> Int32 {
        if freeHead >= 0 {
            let index = freeHead
            freeHead = nodes[Int(index)].next
            return index
        }
        if nodesUsed == nodeCapacity {
            let bigger = UnsafeMutablePointer<Node>.allocate(capacity: nodeCapacity * 2)
            bigger.moveInitialize(from: nodes, count: nodesUsed)
            nodes.deallocate()
            nodes = bigger
            nodeCapacity *= 2
        }
        (nodes + nodesUsed).initialize(to: Node())
        nodesUsed += 1
        return Int32(nodesUsed - 1)
    }

    private func insert(deadline: UInt64, target: (any TimerTarget)?, tag: UInt64, action: (() -> Void)?) -> TimerID {
        let index = takeNode()
        sequence &+= 1
        var tick = deadline / tickNanoseconds
        if tick < firstUnprocessedTick { tick = firstUnprocessedTick }
        let slot = Int(tick & UInt64(slotMask))
        let node = nodes + Int(index)
        node.pointee.deadline = deadline
        node.pointee.sequence = sequence
        node.pointee.target = target
        node.pointee.action = action
        node.pointee.tag = tag
        node.pointee.live = true
        node.pointee.slot = Int32(slot)
        node.pointee.next = -1
        node.pointee.previous = tails[slot]
        if tails[slot] >= 0 {
            nodes[Int(tails[slot])].next = index
        } else {
            heads[slot] = index
            occupied[slot >> 6] |= 1 << UInt64(slot & 63)
        }
        tails[slot] = index
        liveCount += 1
        return TimerID(index: UInt32(index), generation: node.pointee.generation)
    }

    private func unlink(_ index: Int32) {
        let node = nodes + Int(index)
        let slot = Int(node.pointee.slot)
        let previous = node.pointee.previous
        let next = node.pointee.next
        if previous >= 0 { nodes[Int(previous)].next = next } else { heads[slot] = next }
        if next >= 0 { nodes[Int(next)].previous = previous } else { tails[slot] = previous }
        if heads[slot] < 0 { occupied[slot >> 6] &= ~(1 << UInt64(slot & 63)) }
        node.pointee.slot = -1
        node.pointee.previous = -1
        node.pointee.next = -1
    }

    private func release(_ index: Int32) {
        let node = nodes + Int(index)
        node.pointee.live = false
        node.pointee.target = nil
        node.pointee.action = nil
        node.pointee.generation &+= 1
        node.pointee.next = freeHead
        freeHead = index
        liveCount -= 1
    }
}
