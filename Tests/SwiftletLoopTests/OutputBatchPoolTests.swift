import Glibc
import SwiftletLoop
import Testing

@Suite("OutputBatchPool: a batch per send, not per connection")
struct OutputBatchPoolTests {
    @Test("A batch given back is the next one taken, empty, with its msghdr and iovecs where they were")
    func reuse() {
        let pool = OutputBatchPool(capacity: 4, maximumFree: 2)
        let batch = pool.take()
        #expect(pool.created == 1 && pool.freeCount == 0)
        let bytes: [UInt8] = [1, 2, 3]
        bytes.withUnsafeBytes { batch.append($0.baseAddress!, $0.count) }
        let message = batch.preparedMessage()
        #expect(message.pointee.msg_iovlen == 1 && batch.byteCount == 3)
        pool.give(batch)
        #expect(pool.freeCount == 1)
        let again = pool.take()
        #expect(again === batch && pool.created == 1, "reused, not allocated")
        #expect(again.count == 0 && again.byteCount == 0, "empty")
        #expect(again.preparedMessage() == message && again.preparedMessage().pointee.msg_iov == batch.iovecs)
        #expect(again.capacity == 4)
    }

    @Test("At most maximumFree spare batches are kept")
    func bounded() {
        let pool = OutputBatchPool(capacity: 2, maximumFree: 1)
        let a = pool.take(), b = pool.take()
        pool.give(a)
        pool.give(b)
        #expect(pool.freeCount == 1 && pool.created == 2)
        _ = pool.take()
        _ = pool.take()
        #expect(pool.created == 3, "the second was not kept")
    }

    @Test("A batch fills to its capacity, the msghdr in the same memory block as the iovecs")
    func fills() {
        let batch = OutputBatch(capacity: 3)
        let byte: [UInt8] = [7]
        byte.withUnsafeBytes { raw in
            while !batch.isFull { batch.append(raw.baseAddress!, 1) }
        }
        #expect(batch.count == 3 && batch.byteCount == 3)
        let message = batch.preparedMessage()
        #expect(message.pointee.msg_iovlen == 3)
        #expect(UnsafeRawPointer(batch.iovecs) == UnsafeRawPointer(message) + MemoryLayout<msghdr>.stride)
        for index in 0..<3 { #expect(batch.iovecs[index].iov_len == 1) }
    }
}
