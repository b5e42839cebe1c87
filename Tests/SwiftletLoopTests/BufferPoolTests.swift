import SwiftletLoop
import Testing

@Suite("BufferPool: blocks counted by hand")
struct BufferPoolTests {
    @Test("A block lives while counted: the last release returns it, and the next acquire reuses it")
    func countedLifetime() {
        let pool = BufferPool(blockSize: 1024, maximumFree: 4)
        let block = pool.acquire()
        #expect(pool.created == 1 && pool.inUse == 1 && pool.freeCount == 0)
        #expect(block.capacity == 1024)
        block.storage.storeBytes(of: 0xA5, as: UInt8.self)
        pool.retain(block)
        pool.release(block)
        #expect(pool.inUse == 1 && pool.freeCount == 0, "one holder left")
        pool.release(block)
        #expect(pool.inUse == 0 && pool.freeCount == 1)
        let again = pool.acquire()
        #expect(again.toOpaque() == block.toOpaque() && pool.created == 1, "reused, not allocated")
        #expect(again.storage.load(as: UInt8.self) == 0xA5, "the same memory")
        pool.release(again)
    }

    @Test("At most maximumFree idle blocks are kept; the others are freed")
    func boundedFreeList() {
        let pool = BufferPool(blockSize: 512, maximumFree: 1)
        let a = pool.acquire(), b = pool.acquire(), c = pool.acquire()
        #expect(pool.created == 3 && pool.inUse == 3)
        pool.release(a)
        pool.release(b)
        pool.release(c)
        #expect(pool.inUse == 0 && pool.freeCount == 1)
        _ = [pool.acquire(), pool.acquire()].map { pool.release($0) }
        #expect(pool.created == 4, "one came from the free list, one was allocated")
    }
}
