import SwiftletHTTP

/// What the scheduler needs of a stream (HTTP2Stream; fakes in tests).
protocol SchedulableStream: AnyObject {
    var id: UInt32 { get }
    var isLive: Bool { get }
    var isScheduled: Bool { get set }
    var scheduleEpoch: UInt32 { get set }
    var schedulingPriority: HTTPPriority { get }
}

extension HTTP2Stream: SchedulableStream {}

/// Picks which stream's DATA goes out next (RFC 9218 §10).
///
/// Streams that can send (body queued or a source to pull, window open)
/// wait in one of 8 urgency buckets; a bit mask of non-empty buckets finds
/// the most urgent in O(1). Within a bucket:
///
/// - non-incremental streams are served one after the other, in stream-id
///   order (a min-heap by id): a response that is only useful whole gets
///   all the bandwidth of its urgency until it is done;
/// - incremental streams share the rest round robin (a FIFO), a slice each.
///
/// Non-incremental streams of an urgency go before its incremental ones.
/// The connection writes at most one slice (16 KiB) per pick and puts the
/// stream back if it can still send, so a more urgent stream that becomes
/// ready takes over within one slice. Each pick and re-insert is O(log n);
/// nothing ever scans all streams.
///
/// A stream whose priority changes while queued is re-inserted under a new
/// epoch; the old entry is skipped when reached (bounded by the priority
/// churn limit).
///
/// Entries hold a stream's id, not the stream: moving them in the queues
/// costs no reference counting, and an entry left behind by a stream that
/// closed names nothing (ids are never reused on a connection). The owner
/// finds streams by id (`lookup`, the stream table).
struct WriteScheduler<Stream: SchedulableStream> {
    struct Entry {
        let id: UInt32
        let epoch: UInt32
    }

    // Inline, so a new connection allocates only the queues of the
    // urgencies it uses.
    private var sequential = InlineArray<8, [Entry]>(repeating: [])
    private var incremental = InlineArray<8, [Entry]>(repeating: [])
    /// Where each incremental queue's round robin is (32 bits: a queue
    /// holds at most the streams of one connection).
    private var incrementalHead = InlineArray<8, UInt32>(repeating: 0)
    private var nonEmpty: UInt8 = 0

    /// No stream is waiting (stale entries aside).
    var isEmpty: Bool { nonEmpty == 0 }

    /// Makes `stream` eligible under its current priority (no-op if it is).
    mutating func enqueue(_ stream: Stream) {
        guard !stream.isScheduled else { return }
        stream.isScheduled = true
        stream.scheduleEpoch &+= 1
        let entry = Entry(id: stream.id, epoch: stream.scheduleEpoch)
        let urgency = stream.schedulingPriority.urgency
        if stream.schedulingPriority.incremental {
            incremental[urgency].append(entry)
        } else {
            Self.push(entry, into: &sequential[urgency])
        }
        nonEmpty |= 1 << UInt8(urgency)
    }

    /// The priority of a queued stream changed: move it.
    mutating func reprioritize(_ stream: Stream) {
        guard stream.isScheduled else { return }
        stream.isScheduled = false
        enqueue(stream)
    }

    /// The next stream to serve one slice, removed from the scheduler;
    /// `lookup` finds a live stream by id.
    mutating func next(lookup: (UInt32) -> Stream?) -> Stream? {
        while nonEmpty != 0 {
            let urgency = nonEmpty.trailingZeroBitCount
            while let entry = sequential[urgency].first {
                Self.pop(from: &sequential[urgency])
                if let stream = valid(entry, lookup) { return take(stream) }
            }
            while Int(incrementalHead[urgency]) < incremental[urgency].count {
                let entry = incremental[urgency][Int(incrementalHead[urgency])]
                incrementalHead[urgency] += 1
                if Int(incrementalHead[urgency]) == incremental[urgency].count {
                    incremental[urgency].removeAll(keepingCapacity: true)
                    incrementalHead[urgency] = 0
                }
                if let stream = valid(entry, lookup) { return take(stream) }
            }
            nonEmpty &= ~(1 << UInt8(urgency))
        }
        return nil
    }

    mutating func removeAll(lookup: (UInt32) -> Stream?) {
        // Only the urgencies with entries (a queue's bit is cleared only
        // once both its queues are empty).
        while nonEmpty != 0 {
            let urgency = nonEmpty.trailingZeroBitCount
            for entry in sequential[urgency] { lookup(entry.id)?.isScheduled = false }
            for entry in incremental[urgency] { lookup(entry.id)?.isScheduled = false }
            sequential[urgency].removeAll(keepingCapacity: true)
            incremental[urgency].removeAll(keepingCapacity: true)
            incrementalHead[urgency] = 0
            nonEmpty &= ~(1 << UInt8(urgency))
        }
    }

    /// The entry's stream, if it is still waiting under this entry.
    private func valid(_ entry: Entry, _ lookup: (UInt32) -> Stream?) -> Stream? {
        guard let stream = lookup(entry.id), stream.id == entry.id, stream.isLive, stream.isScheduled,
              stream.scheduleEpoch == entry.epoch else { return nil }
        return stream
    }

    private func take(_ stream: Stream) -> Stream {
        stream.isScheduled = false
        return stream
    }

    // MARK: min-heap by stream id
    //
    // Static on purpose: an instance method would borrow `self` while its
    // argument is an in-out element of `self`, so Swift would pass a copy of
    // the heap and every push would copy it (measured: ~1 allocation per
    // response).

    private static func push(_ entry: Entry, into heap: inout [Entry]) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].id < heap[parent].id else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private static func pop(from heap: inout [Entry]) {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { break }
            var smallest = left
            if left + 1 < heap.count && heap[left + 1].id < heap[left].id { smallest = left + 1 }
            guard heap[smallest].id < heap[parent].id else { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
