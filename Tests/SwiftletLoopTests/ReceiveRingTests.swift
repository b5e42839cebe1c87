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

    /// Writes `byte` into the first page of `ring` (received, then consumed).
    private func dirty(_ ring: ReceiveRing, with byte: UInt8) {
        ring.writable[0] = byte
        ring.commit(1)
        ring.consume(1)
    }

    @Test("trimming gives back the memory of the idle rings after the warm ones, which are handed out first")
    func poolColdRings() throws {
        let pool = ReceiveRingPool(ringCapacity: 4096, maximumFree: 4, maximumWarm: 2)
        let rings = try (0..<5).map { _ in try pool.acquire() }
        for (index, ring) in rings.enumerated() { dirty(ring, with: UInt8(index + 1)) }
        for ring in rings { pool.release(ring) }
        #expect(pool.freeCount == 4, "the fifth is unmapped")
        #expect(pool.warmCount == 4 && pool.needsTrim, "idle rings keep their memory until a trim")
        // Rings returned after the cutoff have not waited long enough.
        rings[0].releasedAt = 100
        rings[1].releasedAt = 200
        #expect(pool.trim(releasedBefore: 150) == 1, "only the ring returned before the cutoff")
        #expect(pool.warmCount == 3 && pool.coldCount == 1 && pool.needsTrim)
        #expect(pool.trim() == 1)
        #expect(pool.warmCount == 2 && pool.coldCount == 2 && !pool.needsTrim)
        #expect(pool.trim() == 0, "cold rings are not trimmed again")

        // Last in, first out: the two returned last are the warm ones.
        let warm = try [pool.acquire(), pool.acquire()]
        #expect(warm[0] === rings[3] && warm[1] === rings[2])
        #expect(warm.allSatisfy { $0.addressForTesting(offset: 0).load(as: UInt8.self) != 0 },
                "a warm ring keeps its memory (and so its old bytes)")
        let cold = try [pool.acquire(), pool.acquire()]
        #expect(cold[0] === rings[1] && cold[1] === rings[0])
        #expect(cold.allSatisfy { $0.addressForTesting(offset: 0).load(as: UInt8.self) == 0 },
                "a cold ring's pages were given back: it reads as fresh zeroed memory")
        #expect(pool.freeCount == 0 && pool.coldCount == 0 && pool.reused == 4)

        // A cold ring works as before once it is written again.
        dirty(cold[0], with: 9)
        #expect(cold[0].addressForTesting(offset: 0).load(as: UInt8.self) == 9)
        #expect(cold[0].addressForTesting(offset: 4096).load(as: UInt8.self) == 9, "both mappings still show one page")
        for ring in warm + cold { pool.release(ring) }
        #expect(pool.warmCount == 4 && pool.coldCount == 0, "a ring taken out is warm again")
    }
}
