import Glibc

/// A fixed-size block of memory lent out by a `BufferPool`.
///
/// Blocks are reference counted by hand (`retain`/`release` on the pool), not
/// by ARC, because several queued send chunks may point into one block and
/// the block must go back to the pool, not to `free`, when the last is done.
public final class PooledBuffer {
    public let storage: UnsafeMutableRawPointer
    public let capacity: Int
    @usableFromInline var references = 0

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
    private var free: [PooledBuffer] = []
    public private(set) var created = 0
    public private(set) var inUse = 0

    public init(blockSize: Int, maximumFree: Int) {
        self.blockSize = blockSize
        self.maximumFree = maximumFree
        free.reserveCapacity(maximumFree)
    }

    public var freeCount: Int { free.count }

    /// A block with one reference held by the caller.
    public func acquire() -> PooledBuffer {
        inUse += 1
        let block: PooledBuffer
        if let reused = free.popLast() {
            block = reused
        } else {
            block = PooledBuffer(capacity: blockSize)
            created += 1
        }
        block.references = 1
        return block
    }

    @inlinable public func retain(_ block: PooledBuffer) {
        block.references += 1
    }

    /// Drops one reference; the last one returns the block to the pool.
    public func release(_ block: PooledBuffer) {
        precondition(block.references > 0, "PooledBuffer released too often")
        block.references -= 1
        if block.references == 0 {
            inUse -= 1
            if free.count < maximumFree { free.append(block) }
        }
    }
}
