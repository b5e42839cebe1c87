import CSwiftletSystem
import Glibc
@testable import SwiftletLoop
import SwiftletTestSupport
import Testing

/// A fresh directory for socket files, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/swiftlet-sockets-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    func remove() {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(directory)
        }
        rmdir(path)
    }
}

@Suite("listening sockets: Unix domain sockets, shared and inherited descriptors")
struct ListeningSocketTests {
    static func fileMode(_ path: String) -> mode_t? {
        var status = stat()
        return lstat(path, &status) == 0 ? status.st_mode : nil
    }

    @Test("a Unix socket address: its path, no port, unix:PATH; the abstract namespace as @name; too long is an error")
    func unixAddress() throws {
        let address = try SocketAddress(unixPath: "/run/swiftlet.sock")
        #expect(address.isUnix && !address.isIPv6)
        #expect(address.unixPath == "/run/swiftlet.sock")
        #expect(address.port == 0)
        #expect(address.description == "unix:/run/swiftlet.sock")
        let abstract = try SocketAddress(abstractUnixName: "swiftlet")
        #expect(abstract.unixPath == "@swiftlet")
        #expect(throws: AddressError.unixPathTooLong("/" + String(repeating: "x", count: 107))) {
            try SocketAddress(unixPath: "/" + String(repeating: "x", count: 107))
        }
        #expect(throws: AddressError.unixPathTooLong("")) { try SocketAddress(unixPath: "") }
        #expect(try SocketAddress(ip: "127.0.0.1", port: 80).unixPath == nil)
    }

    @Test("binding a Unix socket creates the file with the mode asked for; the file is ours until replaced")
    func bindCreatesFile() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/s.sock"
        let socket = try ListeningSocket.bind(SocketAddress(unixPath: path), options: ListenOptions(), unixMode: 0o600)
        defer { socket.close() }
        let mode = try #require(Self.fileMode(path))
        #expect(mode & S_IFMT == S_IFSOCK && mode & 0o777 == 0o600)
        let file = try #require(socket.createdFile)
        #expect(file.isOurs && socket.localAddress.unixPath == path)
        // Replaced by another process's socket: no longer ours, not removed.
        unlink(path)
        let other = try ListeningSocket.bind(SocketAddress(unixPath: path), options: ListenOptions())
        defer { other.close() }
        #expect(!file.isOurs)
        file.remove()
        #expect(Self.fileMode(path) != nil, "the newer socket file stays")
        other.createdFile?.remove()
        #expect(Self.fileMode(path) == nil)
    }

    @Test("a live socket is refused, a stale one removed, a file that is not a socket kept")
    func staleLiveAndForeign() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/s.sock"
        let address = try SocketAddress(unixPath: path)
        let live = try ListeningSocket.bind(address, options: ListenOptions())
        #expect(throws: UnixSocketFileError.inUse(path)) { try ListeningSocket.bind(address, options: ListenOptions()) }
        live.close()  // what a killed server leaves: the file, nobody accepting
        #expect(Self.fileMode(path).map { $0 & S_IFMT } == S_IFSOCK)
        let replacement = try ListeningSocket.bind(address, options: ListenOptions())
        replacement.close()
        let foreign = directory.path + "/notes.txt"
        let fd = open(foreign, O_CREAT | O_WRONLY, 0o644)
        close(fd)
        #expect(throws: UnixSocketFileError.notASocket(foreign)) {
            try ListeningSocket.bind(SocketAddress(unixPath: foreign), options: ListenOptions())
        }
        #expect(Self.fileMode(foreign).map { $0 & S_IFMT } == S_IFREG)
    }

    @Test("loops share one Unix socket through their own descriptors: each keeps accepting whoever closes theirs", arguments: allBackends)
    func sharedSocket(backend: EventLoop.BackendChoice) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/s.sock"
        let socket = try ListeningSocket.bind(SocketAddress(unixPath: path), options: ListenOptions())
        let harnesses = [try LoopHarness(backend: backend), try LoopHarness(backend: backend)]
        defer { for harness in harnesses { harness.shutdown() } }
        let observations = Observations()
        var listeners: [TestLoopBound<Listener>] = []
        for harness in harnesses {
            listeners.append(try harness.onLoop { loop in TestLoopBound(try loop.listen(on: socket) { $0.handler = EchoHandler(observations) }) })
        }
        #expect(listeners[0].value.fd != socket.fd && listeners[1].value.fd != socket.fd)
        socket.close()  // the loops keep their duplicates
        func echo(_ count: Int) throws {
            let client = try TestClient(address: SocketAddress(unixPath: path))
            client.setReceiveTimeout(seconds: 3)  // a connection nobody accepts fails instead of hanging
            let message = pattern(count)
            try client.send(message)
            let echoed = try? client.receive(exactly: message.count)
            #expect(echoed == message, "echo of \(count) bytes on \(backend)")
        }
        for round in 0..<6 { try echo(100 + round) }
        let first = listeners[0]
        try harnesses[0].onLoop { _ in first.value.close() }
        // io_uring wakes one accept waiter per connection (exclusive poll):
        // a connection that came while loop 0 was cancelling its accept
        // could wait for the next one. Once closed, only loop 1 waits.
        #expect(try harnesses[0].waitUntil { _ in first.value.state == .closed })
        for round in 0..<6 { try echo(200 + round) }
        let second = listeners[1]
        #expect(try harnesses[1].onLoop { _ in second.value.acceptedCount } >= 6, "the other loop took every later connection")
        #expect(observations.received.get() == (0..<6).map { 300 + 2 * $0 }.reduce(0, +))
    }

    @Test("an inherited descriptor must be a listening stream socket")
    func inherited() throws {
        let listening = try ListeningSocket.bind(SocketAddress(ip: "127.0.0.1", port: 0), options: ListenOptions())
        defer { listening.close() }
        let adopted = try ListeningSocket.inherited(fd: listening.fd)
        #expect(adopted.localAddress == listening.localAddress && adopted.createdFile == nil)
        #expect(fcntl(listening.fd, F_GETFL) & O_NONBLOCK != 0)

        let unconnected = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(unconnected) }
        #expect(throws: ListeningSocketError.notListening(unconnected)) { try ListeningSocket.inherited(fd: unconnected) }
        let datagram = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(datagram) }
        #expect(throws: ListeningSocketError.notAStreamSocket(datagram)) { try ListeningSocket.inherited(fd: datagram) }
        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        defer { close(pipeEnds[0]); close(pipeEnds[1]) }
        #expect(throws: SystemError.self) { try ListeningSocket.inherited(fd: pipeEnds[0]) }
    }
}
