import SwiftletLoop

/// Streams no connection is using, kept for the next request on any
/// connection of one loop.
///
/// A stream carries buffers (request and response fields, body queues) that
/// cost allocations to make and memory to keep. Pooled per connection, an
/// idle connection would keep the streams of its busiest moment; pooled per
/// loop, an idle connection keeps none and a new connection allocates no
/// stream, while the loop keeps at most `maximum` spare streams (enough for
/// every stream of its busiest turn to be reused).
///
/// Loop-confined: one pool per loop, shared by that loop's connections
/// (`HTTP2Connection.start(on:...streamPool:)`); an engine made without one
/// gets a pool of its own. A stream's body queues take blocks from the
/// loop's `BufferPool`, so the pool serves only engines whose transport has
/// that buffer pool.
public final class HTTP2StreamPool {
    /// Spare streams kept at most.
    public let maximum: Int
    /// Where the pooled streams' body queues take their blocks.
    public let bufferPool: BufferPool
    // An `UncheckedCell`: pushed and popped on every request, and releasing
    // a stream would otherwise put the array under run-time exclusivity
    // checks. Invariant: `take` and `give` call nothing outside this file.
    private let freeCell = UncheckedCell<[HTTP2Stream]>([])
    private var free: [HTTP2Stream] {
        unsafeAddress { freeCell.address }
        unsafeMutableAddress { freeCell.mutableAddress }
    }

    public init(bufferPool: BufferPool, maximum: Int = 1024) {
        self.bufferPool = bufferPool
        self.maximum = maximum
    }

    /// Spare streams held now.
    public var count: Int { free.count }

    /// A spare stream, now working for `engine`, if there is one.
    func take(for engine: HTTP2Engine) -> HTTP2Stream? {
        guard let stream = free.popLast() else { return nil }
        stream.engine = engine
        return stream
    }

    /// Keeps a stream its connection is done with (or drops it when full).
    func give(_ stream: HTTP2Stream) {
        if free.count < maximum { free.append(stream) }
    }
}
