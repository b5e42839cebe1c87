import CSwiftletSystem
import Glibc

/// A bound, listening, nonblocking stream socket that no loop serves yet:
/// made here (TCP or a Unix domain socket) or inherited (systemd socket
/// activation). `EventLoop.listen(on:)` serves a duplicate of its descriptor,
/// so several loops can accept from one socket; `close()` then drops this
/// copy, and the socket closes when the last loop's listener does.
///
/// Close the listeners of a shared socket together (as a server's graceful
/// shutdown does): io_uring wakes one accept per new connection (an
/// exclusive wait), so a connection that arrives while one loop is
/// cancelling its accept and the others keep theirs can wait in the backlog
/// until the next connection wakes another loop. The same window opens
/// while a loop pauses accepting after running out of descriptors.
public struct ListeningSocket: Sendable {
    /// The descriptor this value owns until `close()`.
    public let fd: Int32
    /// Where it listens (the real port when port 0 was asked for; the path
    /// of a Unix domain socket).
    public let localAddress: SocketAddress
    /// The Unix socket file this process created, when it is one: removed
    /// at shutdown only if it is still that file.
    public let createdFile: UnixSocketFile?

    /// Binds and listens on `address` (TCP, or a Unix socket path whose
    /// stale file is removed first and whose mode is set to `mode`).
    public static func bind(_ address: SocketAddress, options: ListenOptions, unixMode mode: UInt32? = nil) throws -> ListeningSocket {
        var created: UnixSocketFile?
        // A path in the file system (not the abstract namespace, `@name`).
        let filePath = address.unixPath.flatMap { $0.hasPrefix("@") ? nil : $0 }
        if let filePath { try UnixSocketFile.removeIfStale(path: filePath) }
        let fd = swiftlet_socket_nonblocking(address.family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SystemError.last("socket") }
        var ok = false
        defer { if !ok { Glibc.close(fd) } }
        var one: Int32 = 1
        let size = socklen_t(MemoryLayout<Int32>.size)
        if !address.isUnix {
            guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, size) == 0 else {
                throw SystemError.last("setsockopt(SO_REUSEADDR)")
            }
            if options.reusePort {
                guard setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, size) == 0 else {
                    throw SystemError.last("setsockopt(SO_REUSEPORT)")
                }
            }
        }
        if address.isIPv6 {
            var v6only: Int32 = options.ipv6Only ? 1 : 0
            guard setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &v6only, size) == 0 else {
                throw SystemError.last("setsockopt(IPV6_V6ONLY)")
            }
        }
        let rc = address.withSockAddr { Glibc.bind(fd, $0, $1) }
        guard rc == 0 else { throw SystemError.last("bind \(address)") }
        if let filePath {
            created = try UnixSocketFile(createdAt: filePath)
            if let mode { try created?.setMode(mode) }
        }
        guard listen(fd, options.backlog) == 0 else {
            created?.remove()
            throw SystemError.last("listen \(address)")
        }
        ok = true
        return ListeningSocket(fd: fd, localAddress: try localAddress(of: fd), createdFile: created)
    }

    /// Takes over a listening stream socket this process was given (systemd
    /// socket activation): checks that it is one, makes it nonblocking and
    /// close-on-exec. The error names the descriptor.
    public static func inherited(fd: Int32) throws -> ListeningSocket {
        var value: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &size) == 0 else {
            throw SystemError.last("descriptor \(fd) is not a socket: getsockopt(SO_TYPE)")
        }
        guard value == Int32(SOCK_STREAM.rawValue) else { throw ListeningSocketError.notAStreamSocket(fd) }
        guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &size) == 0, value == 1 else {
            throw ListeningSocketError.notListening(fd)
        }
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else { throw SystemError.last("fcntl(\(fd), O_NONBLOCK)") }
        guard fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 else { throw SystemError.last("fcntl(\(fd), FD_CLOEXEC)") }
        return ListeningSocket(fd: fd, localAddress: try localAddress(of: fd), createdFile: nil)
    }

    /// A new descriptor for the same socket, for one more loop.
    func duplicate() throws -> Int32 {
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { throw SystemError.last("dup listening socket \(localAddress)") }
        return copy
    }

    /// Drops this copy of the descriptor (loops keep theirs).
    public func close() {
        Glibc.close(fd)
    }

    private static func localAddress(of fd: Int32) throws -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw SystemError.last("getsockname") }
        return SocketAddress(storage: storage, length: length)
    }
}

public enum ListeningSocketError: Error, Equatable, CustomStringConvertible {
    case notAStreamSocket(Int32)
    case notListening(Int32)

    public var description: String {
        switch self {
        case .notAStreamSocket(let fd): "descriptor \(fd) is not a stream socket"
        case .notListening(let fd): "descriptor \(fd) is not a listening socket"
        }
    }
}
