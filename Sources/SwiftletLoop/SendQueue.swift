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
    var block: PooledBuffer?
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
    private var chunks: [SendChunk] = []
    private var head = 0
    /// The block small writes are copied into, and the next free offset in it.
    private var appendBlock: PooledBuffer?
    private var appendOffset = 0
    /// Bytes queued and not yet reported written.
    public private(set) var pendingBytes = 0

    public init(pool: BufferPool) {
        self.pool = pool
        chunks.reserveCapacity(16)
    }

    public var isEmpty: Bool { pendingBytes == 0 }
    /// Chunks queued (for tests and statistics).
    public var chunkCount: Int { chunks.count - head }

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
        chunks.append(SendChunk(base: base, count: bytes.count, block: nil, owner: owner, release: release))
        pendingBytes += bytes.count
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
    public func commitAppended(_ count: Int) {
        guard count > 0 else { return }
        let block = appendBlock!
        precondition(appendOffset + count <= block.capacity)
        let start = UnsafeRawPointer(block.storage + appendOffset)
        if head < chunks.count, let last = chunks.last, last.block === block, last.base + last.count == start {
            chunks[chunks.count - 1].count += count
        } else {
            pool.retain(block)
            chunks.append(SendChunk(base: start, count: count, block: block, owner: nil, release: nil))
        }
        appendOffset += count
        pendingBytes += count
    }

    // MARK: writing

    /// Describes queued bytes, oldest first, in `batch`, up to its capacity
    /// and about `maximumBytes` (the last region is cut to fit).
    public func fill(_ batch: OutputBatch, maximumBytes: Int = .max) {
        batch.reset()
        var budget = maximumBytes
        var index = head
        while index < chunks.count, !batch.isFull, budget > 0 {
            let chunk = chunks[index]
            let n = min(chunk.count, budget)
            batch.append(chunk.base, n)
            budget -= n
            index += 1
        }
    }

    /// Records that the kernel wrote `count` bytes from the front.
    public func advance(by count: Int) {
        precondition(count <= pendingBytes, "advanced beyond the queued bytes")
        var remaining = count
        pendingBytes -= count
        while remaining > 0 {
            let chunk = chunks[head]
            if chunk.count <= remaining {
                remaining -= chunk.count
                finish(at: head)
                head += 1
            } else {
                chunks[head].base += remaining
                chunks[head].count -= remaining
                remaining = 0
            }
        }
        compact()
    }

    /// Drops everything queued (the connection closed).
    public func discardAll() {
        while head < chunks.count {
            finish(at: head)
            head += 1
        }
        pendingBytes = 0
        compact()
    }

    private func finish(at index: Int) {
        let chunk = chunks[index]
        chunks[index].owner = nil
        chunks[index].release = nil
        chunks[index].block = nil
        if let block = chunk.block { pool.release(block) }
        chunk.release?()
    }

    private func compact() {
        if head == chunks.count {
            chunks.removeAll(keepingCapacity: true)
            head = 0
            if let block = appendBlock {
                // Idle: give the block back (its offset would be reused, but
                // an idle connection should hold no send buffer).
                pool.release(block)
                appendBlock = nil
                appendOffset = 0
            }
        } else if head > 32, head * 2 > chunks.count {
            chunks.removeFirst(head)
            head = 0
        }
    }
}
