import CSwiftletSystem
import Glibc
import SwiftletLoop

/// sd_notify(3): tells systemd about the service's state (a `Type=notify`
/// unit waits for `READY=1` before it counts the service as started) by
/// sending a datagram of `NAME=value` lines to the Unix socket named by
/// `NOTIFY_SOCKET`. A name starting with `@` is in the abstract namespace.
/// Without `NOTIFY_SOCKET` nothing is sent.
public struct SystemdNotifier: Sendable {
    let address: SocketAddress?

    /// The notifier for this process (`NOTIFY_SOCKET`, if set).
    public init() {
        self.init(socketPath: getenv("NOTIFY_SOCKET").map { String(cString: $0) })
    }

    /// The notifier for a socket path (`@name`: abstract namespace).
    public init(socketPath: String?) {
        guard let socketPath, !socketPath.isEmpty else {
            address = nil
            return
        }
        if socketPath.hasPrefix("@") {
            address = try? SocketAddress(abstractUnixName: String(socketPath.dropFirst()))
        } else {
            address = try? SocketAddress(unixPath: socketPath)
        }
    }

    /// Whether systemd listens (`NOTIFY_SOCKET` was set and valid).
    public var isEnabled: Bool { address != nil }

    /// The service is ready: it listens and serves.
    public func ready(status: String? = nil) throws {
        try send(["READY=1", "MAINPID=\(getpid())"] + (status.map { ["STATUS=\($0)"] } ?? []))
    }

    /// The service is shutting down.
    public func stopping() throws {
        try send(["STOPPING=1"])
    }

    /// The service is reloading its configuration (`ready()` follows).
    public func reloading() throws {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        try send(["RELOADING=1", "MONOTONIC_USEC=\(Int(now.tv_sec) * 1_000_000 + Int(now.tv_nsec) / 1000)"])
    }

    /// Sends `NAME=value` lines as one datagram.
    public func send(_ lines: [String]) throws {
        guard let address else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError.last("socket for NOTIFY_SOCKET") }
        defer { close(fd) }
        var message = lines.joined(separator: "\n")
        let sent = message.withUTF8 { bytes in
            address.withSockAddr { sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), $0, $1) }
        }
        guard sent >= 0 else { throw SystemError.last("sendto NOTIFY_SOCKET \(address)") }
    }
}
