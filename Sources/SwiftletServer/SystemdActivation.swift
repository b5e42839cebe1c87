import Glibc
import SwiftletLoop

/// systemd socket activation (sd_listen_fds(3)): systemd binds the sockets
/// of a `.socket` unit and starts the service with them open as descriptors
/// 3, 4, … and tells it through the environment:
///
///     LISTEN_PID=<the service's pid>   (the variables are meant for it alone)
///     LISTEN_FDS=<how many>            (descriptors 3 ..< 3 + LISTEN_FDS)
///     LISTEN_FDNAMES=<name:name:…>     (optional, FileDescriptorName=)
///
/// Because a socket stays open in systemd while the service restarts,
/// connections that arrive meanwhile wait in its backlog instead of being
/// refused.
public enum SystemdActivation {
    /// The first descriptor systemd passes (SD_LISTEN_FDS_START).
    public static let firstDescriptor: Int32 = 3

    /// The descriptors passed to process `pid` according to `environment`;
    /// empty when none were (no `LISTEN_PID`, or one naming another process:
    /// a parent's variables leaked into a child). Malformed values are
    /// errors that quote them.
    public static func descriptors(environment: [String: String], pid: Int32) throws -> [Int32] {
        guard let pidText = environment["LISTEN_PID"] else { return [] }
        guard let listenPID = Int32(pidText), listenPID > 0 else { throw SystemdActivationError.malformed("LISTEN_PID", pidText) }
        guard listenPID == pid else { return [] }
        guard let countText = environment["LISTEN_FDS"] else { throw SystemdActivationError.malformed("LISTEN_FDS", "") }
        guard let count = Int32(countText), (0...4096).contains(count) else {
            throw SystemdActivationError.malformed("LISTEN_FDS", countText)
        }
        return (0..<count).map { firstDescriptor + $0 }
    }

    /// Takes over this process's activated sockets: reads the variables,
    /// unsets them (so no child inherits them) and checks each descriptor
    /// is a listening stream socket. Throws if systemd passed none.
    public static func takeSockets() throws -> [ListeningSocket] {
        let fds = try descriptors(environment: currentEnvironment(), pid: getpid())
        unsetenv("LISTEN_PID")
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_FDNAMES")
        guard !fds.isEmpty else { throw SystemdActivationError.noSockets }
        return try fds.map { try ListeningSocket.inherited(fd: $0) }
    }

    static func currentEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET"] {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        return environment
    }
}

public enum SystemdActivationError: Error, Equatable, CustomStringConvertible {
    case malformed(String, String)
    case noSockets

    public var description: String {
        switch self {
        case .malformed(let name, let value): "systemd socket activation: \(name)='\(value)' is not a positive number"
        case .noSockets: "systemd socket activation: no sockets were passed (LISTEN_PID and LISTEN_FDS are not set for this process)"
        }
    }
}
