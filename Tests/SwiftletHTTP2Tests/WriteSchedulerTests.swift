import SwiftletHTTP
import Testing
@testable import SwiftletHTTP2

/// The scheduler alone, with fake streams: which stream gets the next slice.
@Suite("WriteScheduler (RFC 9218 §10)")
struct WriteSchedulerTests {
    final class FakeStream: SchedulableStream {
        var id: UInt32
        var isLive = true
        var isScheduled = false
        var scheduleEpoch: UInt32 = 0
        var schedulingPriority: HTTPPriority
        init(_ id: UInt32, _ urgency: Int, incremental: Bool = false) {
            self.id = id
            schedulingPriority = HTTPPriority(urgency: urgency, incremental: incremental)
        }
    }

    /// The scheduler and the streams it names by id (the engine's stream
    /// table): a fake stream stays findable under the id it was enqueued with.
    struct Queue {
        var scheduler = WriteScheduler<FakeStream>()
        var table: [UInt32: FakeStream] = [:]

        mutating func enqueue(_ stream: FakeStream) {
            if table[stream.id] == nil { table[stream.id] = stream }
            scheduler.enqueue(stream)
        }
        mutating func reprioritize(_ stream: FakeStream) { scheduler.reprioritize(stream) }
        mutating func next() -> FakeStream? {
            let table = table
            return scheduler.next { table[$0] }
        }
    }

    /// Serves `slices` slices, re-enqueueing each stream (it still has data);
    /// returns the ids in the order they were served.
    func serve(_ scheduler: inout Queue, slices: Int) -> [UInt32] {
        var order: [UInt32] = []
        for _ in 0..<slices {
            guard let stream = scheduler.next() else { break }
            order.append(stream.id)
            scheduler.enqueue(stream)
        }
        return order
    }

    @Test("lower urgency first")
    func urgencyOrder() {
        var scheduler = Queue()
        let streams = [FakeStream(1, 5), FakeStream(3, 0), FakeStream(5, 3)]
        for stream in streams { scheduler.enqueue(stream) }
        var order: [UInt32] = []
        while let stream = scheduler.next() { order.append(stream.id) }  // each served once, then done
        #expect(order == [3, 5, 1])
    }

    @Test("non-incremental streams of one urgency go one after the other, in id order")
    func sequentialInIdOrder() {
        var scheduler = Queue()
        let streams = [FakeStream(7, 3), FakeStream(3, 3), FakeStream(5, 3)]
        for stream in streams { scheduler.enqueue(stream) }
        #expect(serve(&scheduler, slices: 4) == [3, 3, 3, 3], "stream 3 keeps every slice while it has data")
        _ = scheduler.next()  // stream 3 finished: not re-enqueued
        #expect(serve(&scheduler, slices: 3) == [5, 5, 5])
    }

    @Test("incremental streams of one urgency share round robin")
    func incrementalRoundRobin() {
        var scheduler = Queue()
        for id in [1, 3, 5] as [UInt32] { scheduler.enqueue(FakeStream(id, 3, incremental: true)) }
        #expect(serve(&scheduler, slices: 7) == [1, 3, 5, 1, 3, 5, 1])
    }

    @Test("within an urgency, non-incremental before incremental")
    func sequentialBeforeIncremental() {
        var scheduler = Queue()
        scheduler.enqueue(FakeStream(1, 3, incremental: true))
        scheduler.enqueue(FakeStream(3, 3))
        #expect(serve(&scheduler, slices: 2) == [3, 3])
    }

    @Test("a more urgent stream takes over at the next slice")
    func preemption() {
        var scheduler = Queue()
        scheduler.enqueue(FakeStream(1, 4))
        #expect(serve(&scheduler, slices: 2) == [1, 1])
        scheduler.enqueue(FakeStream(3, 1))
        #expect(serve(&scheduler, slices: 2) == [3, 3])
    }

    @Test("reprioritizing a queued stream moves it; the old entry is skipped")
    func reprioritize() {
        var scheduler = Queue()
        let slow = FakeStream(1, 2)
        let other = FakeStream(3, 3)
        scheduler.enqueue(slow)
        scheduler.enqueue(other)
        slow.schedulingPriority = HTTPPriority(urgency: 6, incremental: false)
        scheduler.reprioritize(slow)
        var order: [UInt32] = []
        while let stream = scheduler.next() { order.append(stream.id) }
        #expect(order == [3, 1], "served once each, in the new order")
    }

    @Test("closed and recycled streams are skipped")
    func staleEntries() {
        var scheduler = Queue()
        let closed = FakeStream(1, 0)
        let recycled = FakeStream(3, 0)
        let live = FakeStream(5, 0)
        for stream in [closed, recycled, live] { scheduler.enqueue(stream) }
        closed.isLive = false
        recycled.id = 9  // reused for another stream while its old entry waits
        var order: [UInt32] = []
        while let stream = scheduler.next() { order.append(stream.id) }
        #expect(order == [5])
    }

    @Test("removeAll empties every urgency and unmarks every queued stream, also after a partial drain")
    func removeAllClearsEveryQueue() {
        var scheduler = Queue()
        let streams = [FakeStream(1, 0), FakeStream(3, 3, incremental: true), FakeStream(5, 7), FakeStream(7, 7, incremental: true)]
        for stream in streams { scheduler.enqueue(stream) }
        #expect(scheduler.next()?.id == 1, "urgency 0 served and emptied")
        let table = scheduler.table
        scheduler.scheduler.removeAll { table[$0] }
        #expect(scheduler.scheduler.isEmpty)
        #expect(streams.allSatisfy { !$0.isScheduled })
        #expect(scheduler.next() == nil)
        scheduler.enqueue(streams[2])
        #expect(scheduler.next()?.id == 5, "a stream removed this way can be queued again")
    }

    @Test("entries name streams by id: a stream that left the table is skipped, and the scheduler keeps no stream alive")
    func entriesHoldIds() {
        var scheduler = Queue()
        weak var gone: FakeStream?
        do {
            let stream = FakeStream(1, 0)
            gone = stream
            scheduler.enqueue(stream)
            scheduler.enqueue(FakeStream(3, 0))
            scheduler.table[1] = nil  // closed: out of the table
        }
        #expect(gone == nil, "only the table held it")
        #expect(scheduler.next()?.id == 3)
        #expect(scheduler.next() == nil)
    }

    @Test("RFC 9218 priority field values")
    func parsing() {
        func parse(_ text: String) -> HTTPPriority {
            Array(text.utf8).withUnsafeBytes { HTTPPriority.parse($0) }
        }
        #expect(parse("u=0") == HTTPPriority(urgency: 0, incremental: false))
        #expect(parse("u=5, i") == HTTPPriority(urgency: 5, incremental: true))
        #expect(parse("i, u=1") == HTTPPriority(urgency: 1, incremental: true))
        #expect(parse("i=?0, u=2") == HTTPPriority(urgency: 2, incremental: false))
        #expect(parse("u=9") == .default, "out of range: ignored")
        #expect(parse("u=a, x=1, i=5") == .default, "wrong types and unknown keys: ignored")
        #expect(parse("u=4;foo=bar") == HTTPPriority(urgency: 4, incremental: false), "parameters ignored")
        #expect(HTTPPriority.fromRFC7540(weight: 256).urgency == 1)
        #expect(HTTPPriority.fromRFC7540(weight: 147).urgency == 4)
        #expect(HTTPPriority.fromRFC7540(weight: 16).urgency == 5)
    }
}
