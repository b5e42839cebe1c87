import SwiftletLoop

/// What each loop of a server listens on, decided once before the loops
/// start: TCP addresses are bound by every loop (`SO_REUSEPORT`), Unix
/// sockets and systemd's sockets are bound (or taken over) here once and
/// shared, each loop accepting through its own duplicate descriptor.
struct ListenPlan {
    enum Entry: Sendable {
        case tcp(SocketAddress)
        case shared(ListeningSocket)
    }

    let entries: [Entry]

    /// Resolves host names, binds Unix sockets, takes systemd's sockets.
    /// On error, what was bound so far is closed (and its files removed).
    init(_ addresses: [ListenAddress], backlog: Int32) throws {
        var entries: [Entry] = []
        do {
            for address in addresses {
                switch address {
                case .tcp(let host, let port):
                    entries.append(.tcp(try SocketAddress.resolve(host: host, port: port)))
                case .unix(let path, let mode):
                    let socket = try ListeningSocket.bind(try SocketAddress(unixPath: path), options: ListenOptions(backlog: backlog),
                                                          unixMode: mode)
                    entries.append(.shared(socket))
                case .systemd:
                    entries += try SystemdActivation.takeSockets().map { .shared($0) }
                }
            }
            guard !entries.isEmpty else { throw ListenPlanError.nothingToListenOn }
        } catch {
            let partial = ListenPlan(entries: entries)
            partial.closeSharedSockets()
            partial.removeSocketFiles()
            throw error
        }
        self.entries = entries
    }

    private init(entries: [Entry]) {
        self.entries = entries
    }

    /// The entries again, TCP ones at the address the first loop bound
    /// (`bound`, in entry order): a port 0 became a real port there.
    func entries(boundAt bound: [SocketAddress]) -> [Entry] {
        zip(entries, bound).map { entry, address in
            if case .tcp = entry { .tcp(address) } else { entry }
        }
    }

    /// The Unix socket files bound here.
    var socketFiles: [UnixSocketFile] {
        entries.compactMap { if case .shared(let socket) = $0 { socket.createdFile } else { nil } }
    }

    /// Closes this process's own copies of the shared sockets (once every
    /// loop has its duplicate, or on failure).
    func closeSharedSockets() {
        for case .shared(let socket) in entries { socket.close() }
    }

    func removeSocketFiles() {
        for file in socketFiles { file.remove() }
    }
}

enum ListenPlanError: Error, CustomStringConvertible {
    case nothingToListenOn

    var description: String { "no address to listen on" }
}
