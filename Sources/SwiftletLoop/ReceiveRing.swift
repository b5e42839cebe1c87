import CSwiftletSystem
import Glibc

/// A receive buffer whose readable bytes are always contiguous in memory.
///
/// The ring is a power-of-two region of memory mapped twice, back to back:
///
///     virtual:  [ mapping A: bytes 0..<n ][ mapping B: bytes 0..<n again ]
///     physical: [ one memfd of n bytes                                  ]
///
/// A span that starts near the end of A and runs past it continues into B,
/// which shows the same physical bytes as the start of A. So the readable span
/// (`head..<tail`) and the writable span (`tail..<head+n`) are each one
/// contiguous pointer range, whatever the wrap position, and a frame that
/// straddles the end of the buffer is parsed in place without copying.
///
/// Positions are byte offsets that only grow until the ring drains; both are
/// reduced modulo the capacity when the head passes it, so they never
/// overflow. When the ring is empty both reset to 0.
///
/// Ownership: a ring belongs to one connection at a time. The connection
/// borrows it from its loop's `ReceiveRingPool` when it is about to receive,
/// and gives it back as soon as it is empty (an idle connection holds none).
/// The pointers handed out by `readable` are valid until the next `consume`
/// or until the ring returns to the pool.
public final class ReceiveRing {
    /// Start of mapping A.
    let base: UnsafeMutableRawPointer
    /// Size of one mapping in bytes (a power of two, a multiple of the page size).
    public let capacity: Int
    let mask: Int
    private var head = 0
    private var tail = 0
    /// Next ring in the pool's free list (unretained link; the pool retains).
    var nextFree: Unmanaged<ReceiveRing>?
    /// Its memory was given back while it waited in the pool (`discardMemory`).
    var isCold = false
    /// When it last went back to the pool (the loop's clock; 0 if unknown).
    var releasedAt: UInt64 = 0

    /// Maps a new ring of `capacity` bytes (a power of two and a multiple of
    /// the page size).
    public init(capacity: Int) throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        precondition(capacity > 0 && capacity & (capacity - 1) == 0 && capacity % page == 0,
                     "ReceiveRing capacity must be a power of two and a multiple of \(page)")
        let fd = swiftlet_memfd_create("swiftlet-ring")
        guard fd >= 0 else { throw SystemError.last("memfd_create") }
        defer { close(fd) }  // the mappings keep the memory alive
        guard ftruncate(fd, off_t(capacity)) == 0 else { throw SystemError.last("ftruncate") }
        // Reserve 2n of address space, then map the file over each half.
        guard let reserved = mmap(nil, 2 * capacity, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              reserved != MAP_FAILED
        else { throw SystemError.last("mmap") }
        let rw = PROT_READ | PROT_WRITE
        let flags = MAP_SHARED | MAP_FIXED
        guard mmap(reserved, capacity, rw, flags, fd, 0) != MAP_FAILED,
              mmap(reserved + capacity, capacity, rw, flags, fd, 0) != MAP_FAILED
        else {
            let error = SystemError.last("mmap")
            munmap(reserved, 2 * capacity)
            throw error
        }
        self.base = reserved
        self.capacity = capacity
        self.mask = capacity - 1
    }

    deinit {
        munmap(base, 2 * capacity)
    }

    /// Bytes received and not yet consumed.
    public var readableCount: Int { tail - head }
    /// Free space that a receive may fill.
    public var writableCount: Int { capacity - (tail - head) }
    public var isEmpty: Bool { tail == head }
    public var isFull: Bool { tail - head == capacity }

    /// The unconsumed bytes, contiguous.
    public var readable: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + (head & mask), count: tail - head)
    }

    /// The free space, contiguous; fill a prefix of it and call `commit`.
    public var writable: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base + (tail & mask), count: capacity - (tail - head))
    }

    /// Marks `count` bytes at the start of `writable` as received.
    public func commit(_ count: Int) {
        precondition(count >= 0 && count <= writableCount, "commit beyond the free space")
        tail += count
    }

    /// Drops `count` bytes from the start of `readable`. An emptied ring
    /// starts over at its beginning, unless `keepingPosition` (a receive into
    /// `writable` is in flight: the kernel writes where `writable` pointed
    /// when it was armed, so that is where the next bytes must be read).
    public func consume(_ count: Int, keepingPosition: Bool = false) {
        precondition(count >= 0 && count <= readableCount, "consume beyond the readable bytes")
        head += count
        if head == tail && !keepingPosition {
            head = 0
            tail = 0
        } else if head >= capacity {
            head -= capacity
            tail -= capacity
        }
    }

    /// Gives the ring's memory back to the system (both mappings stay; the
    /// next write into a page maps a fresh zeroed one). For rings that wait
    /// in a pool: an idle ring then costs address space only.
    func discardMemory() {
        // MADV_REMOVE frees a shared mapping's backing store (the memfd's
        // pages), which MADV_DONTNEED would only unmap from this process.
        _ = madvise(base, capacity, MADV_REMOVE)
    }

    /// Positions the empty ring so that the next write starts `offset` bytes
    /// into the buffer. Used by tests to place a record across the wrap point.
    public func resetForTesting(offset: Int) {
        precondition(isEmpty && offset >= 0 && offset < capacity)
        head = offset
        tail = offset
    }

    /// The address of buffer byte `offset` in the first mapping (for tests).
    public func addressForTesting(offset: Int) -> UnsafeRawPointer {
        UnsafeRawPointer(base + (offset & mask))
    }
}

/// A per-loop free list of `ReceiveRing`s of one size.
///
/// Rings are expensive to make (a memfd and three mmaps) and cheap to reuse,
/// so connections borrow them only while they hold unconsumed bytes. At most
/// `maximumFree` idle rings are kept; extra ones are unmapped. The list is
/// last in, first out: the ring handed out is the one returned last.
///
/// Idle rings keep the pages their last user touched until `trim`, which
/// gives back the memory of those that have waited long enough, except the
/// `maximumWarm` most recently returned (`ReceiveRing.discardMemory`): they
/// are cold, and cost address space, not memory. The loop trims what has
/// waited a `trimInterval` (`EventLoop.releaseRing`), so the rings left
/// over after a burst of connections give their memory back, while rings
/// that connections coming and going keep reusing stay warm.
///
/// The free list is intrusive and made of `Unmanaged` references (a trivial
/// type), so taking and returning a ring needs no reference-counted array
/// mutation and no dynamic exclusivity check.
public final class ReceiveRingPool {
    public let ringCapacity: Int
    public let maximumFree: Int
    public let maximumWarm: Int
    private var freeHead: Unmanaged<ReceiveRing>?
    private var freeCountStorage = 0
    private var coldCountStorage = 0
    private var createdStorage = 0
    private var reusedStorage = 0
    private var inUseStorage = 0

    // Stored counters are private and exposed through computed properties:
    // a stored `var` visible outside the module keeps Swift's dynamic
    // exclusivity checks in release builds (see docs/architecture.md).
    public var freeCount: Int { freeCountStorage }
    /// Idle rings that keep their memory.
    public var warmCount: Int { freeCountStorage - coldCountStorage }
    /// Idle rings whose memory was given back.
    public var coldCount: Int { coldCountStorage }
    /// Whether more idle rings keep their memory than `maximumWarm` (a
    /// `trim` gives back the memory of those that waited long enough).
    public var needsTrim: Bool { warmCount > maximumWarm }
    /// Rings mapped since the pool was made.
    public var created: Int { createdStorage }
    /// Acquisitions served from the free list.
    public var reused: Int { reusedStorage }
    /// Rings currently lent out.
    public var inUse: Int { inUseStorage }

    public init(ringCapacity: Int, maximumFree: Int, maximumWarm: Int = 32) {
        self.ringCapacity = ringCapacity
        self.maximumFree = maximumFree
        self.maximumWarm = min(maximumWarm, maximumFree)
    }

    deinit {
        while let head = freeHead {
            freeHead = head.takeUnretainedValue().nextFree
            head.release()
        }
    }

    public func acquire() throws -> ReceiveRing {
        inUseStorage += 1
        if let head = freeHead {
            let ring = head.takeRetainedValue()
            freeHead = ring.nextFree
            ring.nextFree = nil
            freeCountStorage -= 1
            if ring.isCold {
                ring.isCold = false
                coldCountStorage -= 1
            }
            reusedStorage += 1
            return ring
        }
        do {
            let ring = try ReceiveRing(capacity: ringCapacity)
            createdStorage += 1
            return ring
        } catch {
            inUseStorage -= 1
            throw error
        }
    }

    public func release(_ ring: ReceiveRing) {
        precondition(ring.capacity == ringCapacity)
        inUseStorage -= 1
        ring.consume(ring.readableCount)  // resets positions
        guard freeCountStorage < maximumFree else { return }
        ring.nextFree = freeHead
        freeHead = Unmanaged.passRetained(ring)
        freeCountStorage += 1
    }

    /// Gives back the memory of the idle rings returned at or before
    /// `cutoff` (`ReceiveRing.releasedAt`), except the `maximumWarm`
    /// returned last; returns how many it made cold.
    @discardableResult
    public func trim(releasedBefore cutoff: UInt64 = .max) -> Int {
        var position = 0
        var trimmed = 0
        var next = freeHead
        while let current = next {
            let ring = current.takeUnretainedValue()
            if position >= maximumWarm && !ring.isCold && ring.releasedAt <= cutoff {
                ring.discardMemory()
                ring.isCold = true
                coldCountStorage += 1
                trimmed += 1
            }
            position += 1
            next = ring.nextFree
        }
        return trimmed
    }
}
