import CSwiftletSystem
import Glibc

/// A failed system call: which call, and the `errno` it returned.
///
/// Every error the loop reports from the kernel is one of these, so a log line
/// or a test can say exactly what failed ("bind: Address already in use").
public struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The call that failed, e.g. `"bind"` or `"io_uring_queue_init"`.
    public let call: String
    /// The positive errno value.
    public let errno: Int32

    public init(_ call: String, errno: Int32) {
        self.call = call
        self.errno = errno < 0 ? -errno : errno
    }

    /// The error of the last failed libc call in this thread.
    public static func last(_ call: String) -> SystemError {
        SystemError(call, errno: Glibc.errno)
    }

    public var description: String {
        "\(call): \(String(cString: strerror(errno)))"
    }

    /// Whether the error means the peer went away (reset, broken pipe, ...).
    public var isPeerGone: Bool {
        errno == ECONNRESET || errno == EPIPE || errno == ECONNABORTED || errno == ETIMEDOUT
            || errno == EHOSTUNREACH || errno == ENETUNREACH
    }
}
