import Glibc
import Testing
@testable import SwiftletLoop

@Suite("ReceiveRing")
struct ReceiveRingTests {
    @Test("a record written across the end of the buffer reads back contiguous, in place")
    func straddlingRecordIsContiguous() throws {
        let ring = try ReceiveRing(capacity: 4096)
        ring.resetForTesting(offset: 4090)
        let record = (0..<20).map { UInt8($0 + 1) }
        // The writable span is contiguous even though it crosses the end.
        let writable = ring.writable
        #expect(writable.count == 4096)
        for (index, byte) in record.enumerated() { writable[index] = byte }
        ring.commit(record.count)

        let readable = ring.readable
        #expect(readable.count == 20)
        #expect(Array(readable) == record)
        // It really straddles: the last 14 bytes live at the start of the buffer.
        let start = ring.addressForTesting(offset: 0)
        #expect(readable.baseAddress! == start + 4090)
        let wrapped = UnsafeRawBufferPointer(start: start, count: 14)
        #expect(Array(wrapped) == Array(record[6...]))
    }

    @Test("commit and consume move the spans; an empty ring resets to the start")
    func positions() throws {
        let ring = try ReceiveRing(capacity: 4096)
        #expect(ring.isEmpty && ring.writableCount == 4096)
        ring.commit(4096)
        #expect(ring.isFull && ring.writableCount == 0)
        ring.consume(4000)
        #expect(ring.readableCount == 96 && ring.writableCount == 4000)
        // The free span starts where the data ends: offset 4096, which is
        // offset 0 of the buffer (mapping B's first byte aliases it).
        #expect(UnsafeRawPointer(ring.writable.baseAddress!) == ring.addressForTesting(offset: 0))
        #expect(ring.writable.count == 4000)
        ring.commit(3000)
        ring.consume(3096)
        #expect(ring.isEmpty)
        #expect(ring.readable.baseAddress! == ring.addressForTesting(offset: 0))
    }

    @Test("emptied while a receive is in flight, the ring keeps its position, so the received bytes are read where they landed")
    func keepsPositionForReceiveInFlight() throws {
        let ring = try ReceiveRing(capacity: 4096)
        Array("POST /items".utf8).withUnsafeBytes { ring.writable.copyMemory(from: $0) }
        ring.commit(11)
        let armed = ring.writable  // a receive is armed here...
        ring.consume(11, keepingPosition: true)  // ...while the handler consumes
        Array("GET /".utf8).withUnsafeBytes { armed.copyMemory(from: $0) }  // the kernel writes
        ring.commit(5)
        #expect(Array(ring.readable) == Array("GET /".utf8))
    }

    @Test("positions never overflow: many laps around the ring")
    func manyLaps() throws {
        let ring = try ReceiveRing(capacity: 4096)
        ring.commit(100)
        for lap in 0..<10_000 {
            let span = ring.writable
            let n = min(span.count, 1000 + lap % 500)
            for index in 0..<n { span[index] = UInt8(truncatingIfNeeded: index) }
            ring.commit(n)
            ring.consume(n)
            #expect(ring.readableCount == 100)
        }
    }

    @Test("the pool hands the same ring out again")
    func poolReuse() throws {
        let pool = ReceiveRingPool(ringCapacity: 4096, maximumFree: 2)
        let a = try pool.acquire()
        a.commit(10)
        pool.release(a)
        let b = try pool.acquire()
        #expect(a === b)
        #expect(b.isEmpty, "a released ring comes back empty")
        #expect(pool.created == 1 && pool.reused == 1 && pool.inUse == 1)
        let c = try pool.acquire()
        let d = try pool.acquire()
        pool.release(b)
        pool.release(c)
        pool.release(d)
        #expect(pool.freeCount == 2, "at most maximumFree idle rings are kept")
        #expect(pool.inUse == 0)
    }
}
