import SwiftletHPACK
import SwiftletLoop

/// Streams no connection is using, kept for the next request on any
/// connection of one loop; and the scratch memory those connections use
/// one at a time (HPACK's Huffman output, the response head being encoded).
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

    /// Huffman output of the connections' HPACK decoders: a decoder uses it
    /// only while it decodes a block, and the loop runs one at a time.
    let hpackScratch = HPACKScratch()
    /// The response head or trailers an engine is encoding: filled and
    /// written to the transport in one call (`HTTP2Engine.encodeBlock`,
    /// then `writeHeaderBlock`), which calls no other connection.
    let headerOutputCell = UncheckedCell(HPACKOutput(capacity: 256))  // grows to the largest head sent

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
    func give(_ stream: consuming HTTP2Stream) {
        if free.count < maximum { free.append(stream) }
    }
}
