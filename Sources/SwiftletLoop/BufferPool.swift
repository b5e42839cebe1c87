import Glibc

/// A fixed-size block of memory lent out by a `BufferPool`.
///
/// Blocks are reference counted by hand (`retain`/`release` on the pool), not
/// by ARC, because several queued send chunks may point into one block and
/// the block must go back to the pool, not to `free`, when the last is done.
/// Holders keep an `Unmanaged<PooledBuffer>`: the hand count owns the one
/// Swift reference a lent block has, so passing a block around, queueing
/// a chunk of it or dropping one costs no atomic reference counting.
public final class PooledBuffer {
    public let storage: UnsafeMutableRawPointer
    public let capacity: Int
    var references = 0
    /// Next block in the pool's free list (unretained link; the pool retains).
    var nextFree: Unmanaged<PooledBuffer>?

    init(capacity: Int) {
        self.capacity = capacity
        self.storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    }

    deinit {
        storage.deallocate()
    }
}

extension Unmanaged where Instance == PooledBuffer {
    /// The block's memory (read without taking a reference).
    @inline(__always)
    public var storage: UnsafeMutableRawPointer { _withUnsafeGuaranteedRef { $0.storage } }
    @inline(__always)
    public var capacity: Int { _withUnsafeGuaranteedRef { $0.capacity } }
}

/// A per-loop free list of equal-sized blocks for outgoing bytes.
///
/// Steady state makes no heap allocation: a block is allocated only when the
/// free list is empty, and at most `maximumFree` idle blocks are kept.
///
/// Ownership: a block is alive while the pool holds it (free) or while its
/// hand count is above zero (lent). `acquire` lends it with a count of 1,
/// each `retain` adds one, each `release` takes one away; at zero it goes
/// back to the free list, or is freed if the list is full. Every holder of
/// a count must release it exactly once.
public final class BufferPool {
    public let blockSize: Int
    public let maximumFree: Int
    // An intrusive free list of `Unmanaged` links (trivial to mutate). Each
    // link, and each lent block, holds one Swift reference.
    private var freeHead: Unmanaged<PooledBuffer>?
    private var freeBlocks = 0
    private var createdCount = 0
    private var lentCount = 0
    /// Blocks allocated since the pool was made.
    public var created: Int { createdCount }
    /// Blocks currently lent out.
    public var inUse: Int { lentCount }
    /// Idle blocks kept for reuse.
    public var freeCount: Int { freeBlocks }

    public init(blockSize: Int, maximumFree: Int) {
        self.blockSize = blockSize
        self.maximumFree = maximumFree
    }

    deinit {
        while let head = freeHead {
            freeHead = head.takeUnretainedValue().nextFree
            head.release()
        }
    }

    /// Lends a block with a hand count of 1.
    public func acquire() -> Unmanaged<PooledBuffer> {
        lentCount += 1
        let block: Unmanaged<PooledBuffer>
        if let head = freeHead {
            block = head
            freeHead = head._withUnsafeGuaranteedRef { $0.nextFree }
            freeBlocks -= 1
        } else {
            block = Unmanaged.passRetained(PooledBuffer(capacity: blockSize))
            createdCount += 1
        }
        block._withUnsafeGuaranteedRef {
            $0.nextFree = nil
            $0.references = 1
        }
        return block
    }

    /// One more holder of `block`.
    public func retain(_ block: Unmanaged<PooledBuffer>) {
        block._withUnsafeGuaranteedRef { $0.references += 1 }
    }

    /// A holder of `block` is done with it.
    public func release(_ block: Unmanaged<PooledBuffer>) {
        let remaining = block._withUnsafeGuaranteedRef { buffer -> Int in
            precondition(buffer.references > 0, "PooledBuffer released too often")
            buffer.references -= 1
            return buffer.references
        }
        guard remaining == 0 else { return }
        lentCount -= 1
        guard freeBlocks < maximumFree else {
            block.release()
            return
        }
        block._withUnsafeGuaranteedRef { $0.nextFree = freeHead }
        freeHead = block
        freeBlocks += 1
    }
}
