/// One region of outgoing bytes.
///
/// Either a slice of a pooled block (small writes are copied into pooled
/// blocks and coalesced) or borrowed memory that the writer keeps alive:
/// `owner` is held until the bytes are sent, and `release` runs then. A
/// static-file cache hands out borrowed chunks of `mmap`ed files this way,
/// so file bytes reach the socket without a copy.
struct SendChunk {
    var base: UnsafeRawPointer
    var count: Int
    var block: Unmanaged<PooledBuffer>?
    var owner: AnyObject?
    var release: (() -> Void)?
}

/// The bytes a connection has yet to write, in order, as chunks that can be
/// handed to the kernel as an iovec batch without copying.
///
/// Partial writes resume exactly where they stopped: `advance(by:)` drops
/// whole chunks that were sent and moves the start of a partly sent one.
/// When the queue drains it gives its pooled block back, so an idle
/// connection holds no send buffer.
///
/// While a send is in flight the kernel reads the bytes the batch described;
/// appending is safe then (new bytes go after them or into new chunks), and
/// `advance(by:)` is called with the count the kernel reports.
public final class SendQueue {
    let pool: BufferPool
    // Chunks live in a power-of-two ring of manually managed memory (see
    // TimerWheel for why not a Swift array): `head` is the oldest chunk.
    private var chunks: UnsafeMutablePointer<SendChunk>
    private var capacity: Int
    private var head = 0
    private var count = 0
    /// The block small writes are copied into, and the next free offset in it.
    private var appendBlock: Unmanaged<PooledBuffer>?
    private var appendOffset = 0
    private var queuedBytes = 0
    /// Bytes queued and not yet reported written.
    public var pendingBytes: Int { queuedBytes }

    /// The pool the queue's blocks come from (the loop's).
    public var bufferPool: BufferPool { pool }

    /// The ring starts at `initialChunks` (a power of two; 4 chunks are 192
    /// bytes) and doubles as a connection needs more, keeping what it grew
    /// to: an idle connection that never queued much holds little, a busy
    /// one allocates nothing per response.
    public init(pool: BufferPool, initialChunks: Int = 4) {
        precondition(initialChunks > 0 && initialChunks & (initialChunks - 1) == 0, "a chunk ring's size is a power of two")
        self.pool = pool
        capacity = initialChunks
        chunks = .allocate(capacity: capacity)
    }

    deinit {
        discardAll()
        chunks.deallocate()
    }

    public var isEmpty: Bool { queuedBytes == 0 }
    /// Chunks queued (for tests and statistics).
    public var chunkCount: Int { count }

    @inline(__always) private func slot(_ position: Int) -> UnsafeMutablePointer<SendChunk> {
        chunks + ((head + position) & (capacity - 1))
    }

    private func push(_ chunk: consuming SendChunk) {
        if count == capacity {
            let bigger = UnsafeMutablePointer<SendChunk>.allocate(capacity: capacity * 2)
            for position in 0..<count { (bigger + position).moveInitialize(from: slot(position), count: 1) }
            chunks.deallocate()
            chunks = bigger
            capacity *= 2
            head = 0
        }
        slot(count).initialize(to: chunk)
        count += 1
    }

    // MARK: appending

    /// Copies `bytes` into pooled blocks, extending the last chunk when the
    /// bytes land right after it.
    public func append(copying bytes: UnsafeRawBufferPointer) {
        var source = bytes.baseAddress
        var remaining = bytes.count
        while remaining > 0, let from = source {
            let space = ensureAppendSpace(minimum: 1)
            let n = min(space.count, remaining)
            space.baseAddress!.copyMemory(from: from, byteCount: n)
            commitAppended(n)
            source = from + n
            remaining -= n
        }
    }

    /// Queues borrowed memory. `owner` is retained and `release` runs once
    /// the bytes have been written or the queue is discarded.
    public func append(borrowing bytes: UnsafeRawBufferPointer, owner: AnyObject?, release: (() -> Void)? = nil) {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            release?()
            return
        }
        push(SendChunk(base: base, count: bytes.count, block: nil, owner: owner, release: release))
        queuedBytes += bytes.count
    }

    /// Contiguous pooled space of at least `minimum` bytes (at most the block
    /// size) for writing in place; follow with `commitAppended`.
    public func ensureAppendSpace(minimum: Int) -> UnsafeMutableRawBufferPointer {
        precondition(minimum <= pool.blockSize, "reservation larger than a pool block")
        if let block = appendBlock, block.capacity - appendOffset >= minimum {
            return UnsafeMutableRawBufferPointer(start: block.storage + appendOffset, count: block.capacity - appendOffset)
        }
        if let old = appendBlock { pool.release(old) }
        let block = pool.acquire()
        appendBlock = block
        appendOffset = 0
        return UnsafeMutableRawBufferPointer(start: block.storage, count: block.capacity)
    }

    /// Queues `count` bytes written at the start of the last `ensureAppendSpace` span.
    public func commitAppended(_ written: Int) {
        guard written > 0 else { return }
        let block = appendBlock!
        precondition(appendOffset + written <= block.capacity)
        let start = UnsafeRawPointer(block.storage + appendOffset)
        if count > 0 {
            let last = slot(count - 1)
            if last.pointee.block?.toOpaque() == block.toOpaque() && last.pointee.base + last.pointee.count == start {
                last.pointee.count += written
                appendOffset += written
                queuedBytes += written
                return
            }
        }
        pool.retain(block)
        push(SendChunk(base: start, count: written, block: block, owner: nil, release: nil))
        appendOffset += written
        queuedBytes += written
    }

    /// The oldest queued region, if any (for consumers that read a queue
    /// used as a buffer; follow with `advance(by:)`).
    public var firstRegion: UnsafeRawBufferPointer? {
        guard count > 0 else { return nil }
        let chunk = slot(0)
        return UnsafeRawBufferPointer(start: chunk.pointee.base, count: chunk.pointee.count)
    }

    // MARK: moving between queues

    /// Moves up to `limit` bytes from the front of this queue to the end of
    /// `destination`, which must share this queue's pool. Regions shorter
    /// than `copyThreshold` are copied (a small region costs less copied than
    /// as an iovec of its own); longer ones are referenced: a pooled block
    /// gains a reference, a borrowed region's owner and release travel with
    /// it. Returns the bytes moved.
    @discardableResult
    public func move(upTo limit: Int, into destination: SendQueue, copyThreshold: Int) -> Int {
        precondition(destination.pool === pool, "queues must share a pool")
        var moved = 0
        while moved < limit && count > 0 {
            let chunk = slot(0)
            let take = min(chunk.pointee.count, limit - moved)
            let whole = take == chunk.pointee.count
            if take < copyThreshold {
                destination.append(copying: UnsafeRawBufferPointer(start: chunk.pointee.base, count: take))
                if whole { popFront() } else { chunk.pointee.base += take; chunk.pointee.count -= take }
            } else if whole {
                // Hand the chunk over with its references.
                destination.push(slot(0).move())
                destination.queuedBytes += take
                head = (head + 1) & (capacity - 1)
                count -= 1
            } else {
                if let block = chunk.pointee.block { pool.retain(block) }
                destination.push(SendChunk(base: chunk.pointee.base, count: take, block: chunk.pointee.block,
                                           owner: chunk.pointee.owner, release: nil))
                destination.queuedBytes += take
                chunk.pointee.base += take
                chunk.pointee.count -= take
            }
            queuedBytes -= take
            moved += take
        }
        if count == 0 { releaseAppendBlock() }
        return moved
    }

    // MARK: writing

    /// Describes queued bytes, oldest first, in `batch`, up to its capacity
    /// and about `maximumBytes` (the last region is cut to fit).
    public func fill(_ batch: OutputBatch, maximumBytes: Int = .max) {
        batch.reset()
        var budget = maximumBytes
        var position = 0
        while position < count, !batch.isFull, budget > 0 {
            let chunk = slot(position)
            let n = min(chunk.pointee.count, budget)
            batch.append(chunk.pointee.base, n)
            budget -= n
            position += 1
        }
    }

    /// Records that the kernel wrote `written` bytes from the front.
    public func advance(by written: Int) {
        precondition(written <= queuedBytes, "advanced beyond the queued bytes")
        var remaining = written
        queuedBytes -= written
        while remaining > 0 {
            let chunk = slot(0)
            if chunk.pointee.count <= remaining {
                remaining -= chunk.pointee.count
                popFront()
            } else {
                chunk.pointee.base += remaining
                chunk.pointee.count -= remaining
                remaining = 0
            }
        }
        if count == 0 { releaseAppendBlock() }
    }

    /// Drops everything queued (the connection closed).
    public func discardAll() {
        while count > 0 { popFront() }
        queuedBytes = 0
        releaseAppendBlock()
    }

    private func popFront() {
        let chunk = slot(0).move()
        head = (head + 1) & (capacity - 1)
        count -= 1
        if let block = chunk.block { pool.release(block) }
        chunk.release?()
    }

    /// Idle: give the append block back (an idle connection holds no send buffer).
    private func releaseAppendBlock() {
        head = 0
        if let block = appendBlock {
            pool.release(block)
            appendBlock = nil
            appendOffset = 0
        }
    }
}
