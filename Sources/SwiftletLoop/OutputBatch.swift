import CSwiftletSystem
import Glibc

/// The iovec array and `msghdr` of one `sendmsg`, at a stable address.
///
/// io_uring reads the `msghdr` and the iovecs when it issues the send, which
/// may be after `io_uring_submit` returns, so they must live in memory that
/// does not move until the completion arrives: a connection holds its batch
/// from the submission to the completion and never refills it meanwhile.
/// Between sends it holds none: batches come from the loop's
/// `OutputBatchPool`.
public final class OutputBatch {
    public let capacity: Int
    public let iovecs: UnsafeMutablePointer<iovec>
    public let message: UnsafeMutablePointer<msghdr>
    private var filled = 0
    private var filledBytes = 0
    /// The pool's free list.
    var nextFree: Unmanaged<OutputBatch>?
    /// Entries filled.
    public var count: Int { filled }
    /// Bytes described by the filled entries.
    public var byteCount: Int { filledBytes }

    /// The `msghdr`, then the iovecs, in one allocation (not two).
    public init(capacity: Int) {
        self.capacity = capacity
        let memory = UnsafeMutableRawPointer.allocate(
            byteCount: MemoryLayout<msghdr>.stride + capacity * MemoryLayout<iovec>.stride,
            alignment: max(MemoryLayout<msghdr>.alignment, MemoryLayout<iovec>.alignment))
        message = memory.initializeMemory(as: msghdr.self, repeating: msghdr(), count: 1)
        iovecs = (memory + MemoryLayout<msghdr>.stride).initializeMemory(as: iovec.self, repeating: iovec(), count: capacity)
    }

    deinit {
        UnsafeMutableRawPointer(message).deallocate()
    }

    public var isFull: Bool { filled == capacity }

    public func reset() {
        filled = 0
        filledBytes = 0
    }

    /// Appends one region; the caller checks `isFull` first.
    public func append(_ base: UnsafeRawPointer, _ length: Int) {
        precondition(filled < capacity)
        iovecs[filled] = iovec(iov_base: UnsafeMutableRawPointer(mutating: base), iov_len: length)
        filled += 1
        filledBytes += length
    }

    /// Points the `msghdr` at the filled iovecs and returns it.
    public func preparedMessage() -> UnsafeMutablePointer<msghdr> {
        message.pointee = msghdr()
        message.pointee.msg_iov = iovecs
        message.pointee.msg_iovlen = filled
        return message
    }
}

/// The spare output batches of one loop.
///
/// A connection needs a batch only while it sends: epoll's `sendmsg` is done
/// with it when it returns, io_uring when the send completes. So an idle
/// connection holds none (a batch of 64 iovecs is about 1 KiB) and, once
/// the loop has spares, a new connection allocates none. Loop-confined.
public final class OutputBatchPool {
    /// Iovecs per batch.
    public let capacity: Int
    /// Spare batches kept at most; more are freed when given back.
    public let maximumFree: Int
    private var freeHead: Unmanaged<OutputBatch>?
    private var freeCountStorage = 0
    private var createdStorage = 0
    /// Spare batches held now.
    public var freeCount: Int { freeCountStorage }
    /// Batches allocated since the pool was made.
    public var created: Int { createdStorage }

    public init(capacity: Int, maximumFree: Int) {
        self.capacity = capacity
        self.maximumFree = maximumFree
    }

    deinit {
        while let head = freeHead {
            freeHead = head.takeUnretainedValue().nextFree
            head.release()
        }
    }

    /// A batch for one send, empty.
    public func take() -> OutputBatch {
        guard let head = freeHead else {
            createdStorage += 1
            return OutputBatch(capacity: capacity)
        }
        let batch = head.takeRetainedValue()
        freeHead = batch.nextFree
        batch.nextFree = nil
        freeCountStorage -= 1
        batch.reset()
        return batch
    }

    /// Takes back a batch the kernel no longer reads.
    public func give(_ batch: OutputBatch) {
        guard freeCountStorage < maximumFree else { return }
        batch.nextFree = freeHead
        freeHead = Unmanaged.passRetained(batch)
        freeCountStorage += 1
    }
}
