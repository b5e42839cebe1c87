import SwiftletLoop

/// One place a server accepts connections. Every loop serves every address:
/// a TCP address through its own `SO_REUSEPORT` socket, a Unix socket and
/// systemd's sockets through one shared socket.
public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// An IPv4 or IPv6 literal or a host name, and a port (0: any free one).
    case tcp(host: String, port: UInt16)
    /// A Unix domain socket at `path`. A stale socket file left by a server
    /// that died is removed first; a live one, or a file that is not a
    /// socket, is an error. `mode` (e.g. `0o660`) sets who may connect; nil
    /// leaves it to the umask. The file is removed at shutdown if it is
    /// still ours.
    case unix(path: String, mode: UInt32? = nil)
    /// Every listening socket systemd passed (socket activation,
    /// `LISTEN_FDS`/`LISTEN_PID`; see `SystemdActivation`).
    case systemd

    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path, _): "unix:\(path)"
        case .systemd: "systemd"
        }
    }
}
