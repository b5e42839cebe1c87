import CSwiftletSystem
import Glibc

/// The iovec array and `msghdr` of one `sendmsg`, at a stable address.
///
/// io_uring reads the `msghdr` and the iovecs when it issues the send, which
/// may be after `io_uring_submit` returns, so they must live in memory that
/// does not move until the completion arrives: each connection owns one batch
/// and never refills it while a send is in flight.
public final class OutputBatch {
    public let capacity: Int
    public let iovecs: UnsafeMutablePointer<iovec>
    public let message: UnsafeMutablePointer<msghdr>
    private var filled = 0
    private var filledBytes = 0
    /// Entries filled.
    public var count: Int { filled }
    /// Bytes described by the filled entries.
    public var byteCount: Int { filledBytes }

    public init(capacity: Int) {
        self.capacity = capacity
        iovecs = .allocate(capacity: capacity)
        iovecs.initialize(repeating: iovec(), count: capacity)
        message = .allocate(capacity: 1)
        message.initialize(to: msghdr())
    }

    deinit {
        iovecs.deallocate()
        message.deallocate()
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
