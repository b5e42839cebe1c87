/// Picks which stream's DATA goes out next.
///
/// Streams with queued body and send window wait in a FIFO; the connection
/// takes one, writes at most one slice for it, and puts it back at the tail
/// if it has more (round robin). O(1) per frame.
struct WriteScheduler {
    /// Streams with the id they were queued under: a stream object recycled
    /// for another id meanwhile is skipped.
    private var queue: [(stream: HTTP2Stream, id: UInt32)] = []
    private var head = 0

    var isEmpty: Bool { head == queue.count }

    /// Makes `stream` eligible (no-op if it already is).
    mutating func enqueue(_ stream: HTTP2Stream) {
        guard !stream.isScheduled else { return }
        stream.isScheduled = true
        queue.append((stream, stream.id))
    }

    /// The next eligible stream, removed from the queue.
    mutating func next() -> HTTP2Stream? {
        while head < queue.count {
            let (stream, id) = queue[head]
            head += 1
            if head == queue.count {
                queue.removeAll(keepingCapacity: true)
                head = 0
            }
            guard stream.id == id, stream.isLive else { continue }
            stream.isScheduled = false
            return stream
        }
        return nil
    }

    mutating func removeAll() {
        for index in head..<queue.count { queue[index].stream.isScheduled = false }
        queue.removeAll(keepingCapacity: true)
        head = 0
    }
}
