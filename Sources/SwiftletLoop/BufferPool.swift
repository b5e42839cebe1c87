import Glibc

/// A fixed-size block of memory lent out by a `BufferPool`.
///
/// Blocks are reference counted by hand (`retain`/`release` on the pool), not
/// by ARC, because several queued send chunks may point into one block and
/// the block must go back to the pool, not to `free`, when the last is done.
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

/// A per-loop free list of equal-sized blocks for outgoing bytes.
///
/// Steady state makes no heap allocation: a block is allocated only when the
/// free list is empty, and at most `maximumFree` idle blocks are kept.
public final class BufferPool {
    public let blockSize: Int
    public let maximumFree: Int
    // An intrusive free list of `Unmanaged` links (trivial to mutate).
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

    /// A block with one reference held by the caller.
    public func acquire() -> PooledBuffer {
        lentCount += 1
        let block: PooledBuffer
        if let head = freeHead {
            block = head.takeRetainedValue()
            freeHead = block.nextFree
            block.nextFree = nil
            freeBlocks -= 1
        } else {
            block = PooledBuffer(capacity: blockSize)
            createdCount += 1
        }
        block.references = 1
        return block
    }

    public func retain(_ block: PooledBuffer) {
        block.references += 1
    }

    /// Drops one reference; the last one returns the block to the pool.
    public func release(_ block: PooledBuffer) {
        precondition(block.references > 0, "PooledBuffer released too often")
        block.references -= 1
        guard block.references == 0 else { return }
        lentCount -= 1
        guard freeBlocks < maximumFree else { return }
        block.nextFree = freeHead
        freeHead = Unmanaged.passRetained(block)
        freeBlocks += 1
    }
}
