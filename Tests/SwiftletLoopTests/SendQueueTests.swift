import Glibc
import Testing
@testable import SwiftletLoop

@Suite("SendQueue and OutputBatch")
struct SendQueueTests {
    final class Owner {}

    func bytes(of batch: OutputBatch) -> [UInt8] {
        var out: [UInt8] = []
        for index in 0..<batch.count {
            let entry = batch.iovecs[index]
            out += UnsafeRawBufferPointer(start: entry.iov_base, count: entry.iov_len)
        }
        return out
    }

    @Test("small writes coalesce into one pooled region")
    func coalescing() {
        let pool = BufferPool(blockSize: 64, maximumFree: 4)
        let queue = SendQueue(pool: pool)
        for chunk in [[1, 2, 3], [4, 5], [6]] as [[UInt8]] {
            chunk.withUnsafeBytes { queue.append(copying: $0) }
        }
        #expect(queue.chunkCount == 1)
        let batch = OutputBatch(capacity: 8)
        queue.fill(batch)
        #expect(batch.count == 1 && bytes(of: batch) == [1, 2, 3, 4, 5, 6])
    }

    @Test("a write larger than a block spans blocks; partial writes resume exactly")
    func partialWrites() {
        let pool = BufferPool(blockSize: 64, maximumFree: 4)
        let queue = SendQueue(pool: pool)
        let data = (0..<200).map { UInt8($0) }
        data.withUnsafeBytes { queue.append(copying: $0) }
        #expect(queue.pendingBytes == 200 && queue.chunkCount == 4)
        let batch = OutputBatch(capacity: 8)
        var sent: [UInt8] = []
        for step in [1, 63, 70, 66] {
            queue.fill(batch)
            sent += bytes(of: batch).prefix(step)
            queue.advance(by: step)
        }
        #expect(sent == data)
        #expect(queue.isEmpty && queue.chunkCount == 0)
        #expect(pool.inUse == 0, "a drained queue holds no block")
    }

    @Test("a ring started at two chunks grows and keeps the bytes in order, also after its start moved")
    func growth() {
        let pool = BufferPool(blockSize: 64, maximumFree: 8)
        let queue = SendQueue(pool: pool, initialChunks: 2)
        let first = (0..<100).map { UInt8($0) }
        first.withUnsafeBytes { queue.append(copying: $0) }
        let batch = OutputBatch(capacity: 16)
        queue.fill(batch)
        queue.advance(by: 64)  // the first chunk is gone: the ring's start moved
        let second = (100..<400).map { UInt8(truncatingIfNeeded: $0) }
        second.withUnsafeBytes { queue.append(copying: $0) }
        #expect(queue.chunkCount > 2, "more chunks than it started with")
        queue.fill(batch)
        #expect(bytes(of: batch) == Array(first[64...]) + second)
        queue.advance(by: queue.pendingBytes)
        #expect(queue.isEmpty && pool.inUse == 0)
    }

    @Test("borrowed memory is not copied; its owner is released after it is written")
    func borrowed() {
        let pool = BufferPool(blockSize: 64, maximumFree: 4)
        let queue = SendQueue(pool: pool)
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 1000, alignment: 8)
        defer { storage.deallocate() }
        var released: [String] = []
        weak var weakOwner: Owner?
        do {
            let owner = Owner()
            weakOwner = owner
            ([9, 9] as [UInt8]).withUnsafeBytes { queue.append(copying: $0) }
            queue.append(borrowing: UnsafeRawBufferPointer(storage), owner: owner) { released.append("file") }
        }
        #expect(weakOwner != nil, "the queue keeps the owner alive")
        let batch = OutputBatch(capacity: 8)
        queue.fill(batch)
        #expect(batch.count == 2)
        #expect(batch.iovecs[1].iov_base == storage.baseAddress, "borrowed bytes are referenced, not copied")
        queue.advance(by: 500)
        #expect(released.isEmpty)
        queue.advance(by: 502)
        #expect(released == ["file"])
        #expect(weakOwner == nil)
    }

    @Test("the batch stops at its iovec capacity and at the byte budget")
    func batchLimits() {
        let pool = BufferPool(blockSize: 64, maximumFree: 4)
        let queue = SendQueue(pool: pool)
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 100, alignment: 8)
        defer { storage.deallocate() }
        for index in 0..<10 {
            queue.append(borrowing: UnsafeRawBufferPointer(rebasing: storage[index * 10..<index * 10 + 10]), owner: nil)
        }
        let batch = OutputBatch(capacity: 4)
        queue.fill(batch)
        #expect(batch.count == 4 && batch.byteCount == 40)
        queue.fill(batch, maximumBytes: 25)
        #expect(batch.count == 3 && batch.byteCount == 25)
    }

    @Test("discarding releases every chunk")
    func discard() {
        let pool = BufferPool(blockSize: 64, maximumFree: 4)
        let queue = SendQueue(pool: pool)
        var releases = 0
        ([1, 2, 3] as [UInt8]).withUnsafeBytes { queue.append(copying: $0) }
        queue.append(borrowing: UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: 0x1000), count: 5), owner: nil) { releases += 1 }
        queue.discardAll()
        #expect(releases == 1 && queue.isEmpty && pool.inUse == 0)
    }
}
