/// What a completion (io_uring) or readiness event (epoll) refers to.
///
/// Both kernels hand back 64 bits chosen at submission. Swiftlet packs a
/// registry slot, the slot's generation and the operation into them:
///
///     63            32 31             8 7        0
///     [ generation    | slot            | operation ]
///
/// A slot is reused only after its source is fully closed, and reuse bumps
/// the generation, so a late completion for a closed connection can never be
/// delivered to the connection that took its slot.
struct IOToken: Equatable {
    let raw: UInt64

    init(raw: UInt64) { self.raw = raw }

    init(slot: UInt32, generation: UInt32, operation: IOOperation) {
        precondition(slot < 1 << 24, "too many I/O sources")
        raw = UInt64(generation) << 32 | UInt64(slot) << 8 | UInt64(operation.rawValue)
    }

    var slot: UInt32 { UInt32(truncatingIfNeeded: raw >> 8) & 0xFF_FFFF }
    var generation: UInt32 { UInt32(truncatingIfNeeded: raw >> 32) }
    var operation: IOOperation? { IOOperation(rawValue: UInt8(truncatingIfNeeded: raw)) }
}

/// The kinds of operation a token can name.
enum IOOperation: UInt8 {
    case readiness = 1   // epoll: any readiness event
    case receive         // io_uring: recv into the receive ring
    case poll            // io_uring: POLL_ADD (POLLIN, or POLLOUT while connecting)
    case send            // io_uring: sendmsg of the output batch
    case accept          // io_uring: multishot accept
    case read            // io_uring: read of an eventfd or signalfd
    case cancel          // io_uring: ASYNC_CANCEL (completion ignored)
}

/// Everything the loop waits on.
enum IOSource {
    case connection(Connection)
    case listener(Listener)
    case wakeup
    case signals(SignalWatcher)
}

/// Slot table from token to source.
struct IORegistry {
    private struct Entry {
        var generation: UInt32 = 0
        var source: IOSource?
    }

    private var entries: [Entry] = []
    private var freeSlots: [UInt32] = []
    private(set) var count = 0

    mutating func register(_ source: IOSource) -> (slot: UInt32, generation: UInt32) {
        let slot: UInt32
        if let reused = freeSlots.popLast() {
            slot = reused
        } else {
            slot = UInt32(entries.count)
            entries.append(Entry())
        }
        entries[Int(slot)].source = source
        count += 1
        return (slot, entries[Int(slot)].generation)
    }

    /// Frees the slot; returns its source, for the caller to release once
    /// this call is over (the last reference going here could run a
    /// `deinit` while the registry is being mutated).
    @discardableResult
    mutating func unregister(slot: UInt32, generation: UInt32) -> IOSource? {
        let index = Int(slot)
        guard index < entries.count, entries[index].generation == generation, entries[index].source != nil else { return nil }
        let source = entries[index].source.take()
        entries[index].generation &+= 1
        freeSlots.append(slot)
        count -= 1
        return source
    }

    func lookup(_ token: IOToken) -> IOSource? {
        let index = Int(token.slot)
        guard index < entries.count, entries[index].generation == token.generation else { return nil }
        return entries[index].source
    }

    /// Every registered source (for shutting a loop down).
    var allSources: [IOSource] { entries.compactMap(\.source) }
}
