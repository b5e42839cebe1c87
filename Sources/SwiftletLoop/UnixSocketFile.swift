import CSwiftletSystem
import Glibc

/// The file a Unix domain socket listener creates with `bind(2)`, and the
/// care it takes: `bind` fails if the path exists, and a server that died
/// leaves its socket file behind. Before binding, a file at the path is
/// removed only if it is a socket that nobody accepts on any more (connecting
/// is refused); a live socket or any other kind of file is an error naming
/// the path, never deleted. At shutdown the file is removed only if it is
/// still the one this process created (same device and inode): a newer
/// instance may already have replaced it.
public struct UnixSocketFile: Sendable, Equatable {
    public let path: String
    let device: UInt64
    let inode: UInt64

    /// Records the socket file `bind` just created at `path`.
    init(createdAt path: String) throws {
        var status = stat()
        guard lstat(path, &status) == 0 else { throw SystemError.last("stat \(path)") }
        self.path = path
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }

    /// Removes a stale socket file at `path`, if there is one.
    public static func removeIfStale(path: String) throws {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            if errno == ENOENT { return }
            throw SystemError.last("stat \(path)")
        }
        guard status.st_mode & S_IFMT == S_IFSOCK else { throw UnixSocketFileError.notASocket(path) }
        switch probe(path) {
        case .accepting: throw UnixSocketFileError.inUse(path)
        case .refused:
            guard unlink(path) == 0 || errno == ENOENT else { throw SystemError.last("unlink stale socket \(path)") }
        case .failed(let error): throw error
        }
    }

    enum Probe { case accepting, refused, failed(SystemError) }

    /// Whether a process accepts connections on the socket at `path`.
    static func probe(_ path: String) -> Probe {
        let address: SocketAddress
        do { address = try SocketAddress(unixPath: path) } catch { return .failed(SystemError("connect \(path)", errno: ENAMETOOLONG)) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failed(SystemError.last("socket")) }
        defer { close(fd) }
        // Blocking connect: a Unix socket answers at once, whether accepted
        // into the backlog or refused; a full backlog (EAGAIN) means alive.
        let rc = address.withSockAddr { connect(fd, $0, $1) }
        if rc == 0 { return .accepting }
        switch errno {
        case ECONNREFUSED, ENOENT: return .refused
        case EAGAIN: return .accepting
        default: return .failed(SystemError.last("connect \(path)"))
        }
    }

    /// `chmod`s the socket file (who may connect).
    func setMode(_ mode: UInt32) throws {
        guard chmod(path, mode_t(mode)) == 0 else {
            remove()
            throw SystemError.last("chmod \(path)")
        }
    }

    /// Whether the file at `path` is still the one this process created.
    public var isOurs: Bool {
        var status = stat()
        return lstat(path, &status) == 0 && UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }

    /// Removes the file if it is still ours.
    public func remove() {
        if isOurs { unlink(path) }
    }
}

public enum UnixSocketFileError: Error, Equatable, CustomStringConvertible {
    case notASocket(String)
    case inUse(String)

    public var description: String {
        switch self {
        case .notASocket(let path): "'\(path)' exists and is not a socket (not removed)"
        case .inUse(let path): "'\(path)' is a socket another process is accepting on"
        }
    }
}
