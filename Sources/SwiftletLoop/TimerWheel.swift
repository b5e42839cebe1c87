/// Identifies a scheduled timer. Stale IDs (fired or cancelled timers) are
/// recognised by their generation and ignored.
public struct TimerID: Hashable, Sendable {
    let index: UInt32
    let generation: UInt32
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
        var next: Int32 = -1
        var slot: Int32 = -1       // -1: free or collected for firing
        var generation: UInt32 = 0
        var live = false
        var tag: UInt64 = 0
        var target: (any TimerTarget)?
        var action: (() -> Void)?
    }

    public let tickNanoseconds: UInt64
    private let slotMask: Int
    private var heads: [Int32]
    private var tails: [Int32]
    private var occupied: [UInt64]
    private var nodes: [Node] = []
    private var freeList: [Int32] = []
    private var processedTick: UInt64
    private var sequence: UInt64 = 0
    private var expired: [(deadline: UInt64, sequence: UInt64, index: Int32, generation: UInt32)] = []
    /// Live timers.
    public private(set) var count = 0

    /// - Parameters:
    ///   - now: the clock reading the wheel starts at.
    ///   - tick: resolution; timers never fire early, and at most one tick late
    ///     plus the loop's own latency.
    ///   - slotCount: a power of two; one revolution is `slotCount × tick`.
    public init(now: UInt64, tick: Duration = .milliseconds(1), slotCount: Int = 4096) {
        precondition(slotCount > 0 && slotCount & (slotCount - 1) == 0 && slotCount >= 64)
        tickNanoseconds = max(1, tick.nanoseconds)
        slotMask = slotCount - 1
        heads = Array(repeating: -1, count: slotCount)
        tails = Array(repeating: -1, count: slotCount)
        occupied = Array(repeating: 0, count: slotCount / 64)
        processedTick = now / tickNanoseconds &- 1
        expired.reserveCapacity(64)
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
        guard index < nodes.count, nodes[index].generation == id.generation, nodes[index].live else { return false }
        if nodes[index].slot >= 0 { unlink(Int32(index)) }
        release(Int32(index))
        return true
    }

    /// Whether `id` is still scheduled.
    public func isScheduled(_ id: TimerID) -> Bool {
        let index = Int(id.index)
        return index < nodes.count && nodes[index].generation == id.generation && nodes[index].live
    }

    // MARK: expiry

    /// Fires every timer whose deadline is at or before `now`; returns how many fired.
    @discardableResult
    public func advance(to now: UInt64) -> Int {
        let nowTick = now / tickNanoseconds
        guard count > 0 else {
            processedTick = nowTick &- 1
            return 0
        }
        expired.removeAll(keepingCapacity: true)
        var tick = processedTick &+ 1
        var visited = 0
        while tick <= nowTick && visited <= slotMask {
            let slot = Int(tick & UInt64(slotMask))
            var cursor = heads[slot]
            while cursor >= 0 {
                let next = nodes[Int(cursor)].next
                let node = nodes[Int(cursor)]
                if node.deadline <= now {
                    unlink(cursor)
                    expired.append((node.deadline, node.sequence, cursor, node.generation))
                }
                cursor = next
            }
            tick &+= 1
            visited += 1
        }
        // The current tick's slot may hold timers due later in this tick; it
        // is visited again next time.
        processedTick = nowTick &- 1
        if expired.count > 1 { sortExpired() }
        var fired = 0
        var position = 0
        while position < expired.count {
            let entry = expired[position]
            position += 1
            let index = Int(entry.index)
            // Cancelled by an earlier callback of this pass?
            guard nodes[index].generation == entry.generation, nodes[index].live else { continue }
            let target = nodes[index].target
            let action = nodes[index].action
            let tag = nodes[index].tag
            let id = TimerID(index: UInt32(index), generation: entry.generation)
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
        guard count > 0 else { return nil }
        let slotCount = slotMask + 1
        var tick = processedTick &+ 1
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
            // A non-empty slot: the earliest deadline in it that belongs to this revolution.
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
        return (processedTick &+ 1 &+ UInt64(slotCount)) &* tickNanoseconds
    }

    /// Heapsort of `expired` by (deadline, sequence): in place, so firing
    /// allocates nothing (`Array.sort` may allocate a merge buffer).
    private func sortExpired() {
        func less(_ a: Int, _ b: Int) -> Bool {
            let x = expired[a], y = expired[b]
            return x.deadline != y.deadline ? x.deadline < y.deadline : x.sequence < y.sequence
        }
        func siftDown(_ start: Int, _ end: Int) {
            var root = start
            while true {
                var child = 2 * root + 1
                if child >= end { return }
                if child + 1 < end && less(child, child + 1) { child += 1 }
                if !less(root, child) { return }
                expired.swapAt(root, child)
                root = child
            }
        }
        let n = expired.count
        var start = n / 2 - 1
        while start >= 0 {
            siftDown(start, n)
            start -= 1
        }
        var end = n - 1
        while end > 0 {
            expired.swapAt(0, end)
            siftDown(0, end)
            end -= 1
        }
    }

    // MARK: slab

    private func insert(deadline: UInt64, target: (any TimerTarget)?, tag: UInt64, action: (() -> Void)?) -> TimerID {
        let index: Int32
        if let reused = freeList.popLast() {
            index = reused
        } else {
            index = Int32(nodes.count)
            nodes.append(Node())
        }
        sequence &+= 1
        var tick = deadline / tickNanoseconds
        if tick <= processedTick { tick = processedTick &+ 1 }
        let slot = Int(tick & UInt64(slotMask))
        let i = Int(index)
        nodes[i].deadline = deadline
        nodes[i].sequence = sequence
        nodes[i].target = target
        nodes[i].action = action
        nodes[i].tag = tag
        nodes[i].live = true
        nodes[i].slot = Int32(slot)
        nodes[i].next = -1
        nodes[i].previous = tails[slot]
        if tails[slot] >= 0 {
            nodes[Int(tails[slot])].next = index
        } else {
            heads[slot] = index
            occupied[slot >> 6] |= 1 << UInt64(slot & 63)
        }
        tails[slot] = index
        count += 1
        return TimerID(index: UInt32(index), generation: nodes[i].generation)
    }

    private func unlink(_ index: Int32) {
        let i = Int(index)
        let slot = Int(nodes[i].slot)
        let previous = nodes[i].previous
        let next = nodes[i].next
        if previous >= 0 { nodes[Int(previous)].next = next } else { heads[slot] = next }
        if next >= 0 { nodes[Int(next)].previous = previous } else { tails[slot] = previous }
        if heads[slot] < 0 { occupied[slot >> 6] &= ~(1 << UInt64(slot & 63)) }
        nodes[i].slot = -1
        nodes[i].previous = -1
        nodes[i].next = -1
    }

    private func release(_ index: Int32) {
        let i = Int(index)
        nodes[i].live = false
        nodes[i].target = nil
        nodes[i].action = nil
        nodes[i].generation &+= 1
        count -= 1
        freeList.append(index)
    }
}
