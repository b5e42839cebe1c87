import CSwiftletSystem
import Glibc
import SwiftletLoop
@testable import SwiftletServer
import SwiftletTestSupport
import Testing

@Suite("where a server listens: addresses, Unix sockets, systemd", .serialized)
struct ListenTests {
    @Test("host and port read and set the first TCP address of listen")
    func hostAndPort() {
        var configuration = ServerConfiguration()
        #expect(configuration.listen == [.tcp(host: "0.0.0.0", port: 8080)])
        configuration.host = "127.0.0.1"
        configuration.port = 0
        #expect(configuration.listen == [.tcp(host: "127.0.0.1", port: 0)])
        configuration.listen = [.unix(path: "/run/a.sock"), .tcp(host: "::1", port: 9000)]
        #expect(configuration.host == "::1" && configuration.port == 9000)
        configuration.port = 9001
        #expect(configuration.listen == [.unix(path: "/run/a.sock"), .tcp(host: "::1", port: 9001)])
        configuration.listen = [.systemd]
        configuration.port = 80
        #expect(configuration.listen == [.systemd, .tcp(host: "0.0.0.0", port: 80)], "setting the port adds a TCP address")
        #expect(ListenAddress.tcp(host: "::1", port: 80).description == "[::1]:80")
        #expect(ListenAddress.unix(path: "/run/a.sock", mode: 0o600).description == "unix:/run/a.sock")
    }

    @Test("LISTEN_PID and LISTEN_FDS: descriptors 3 … for this process only; malformed values quoted")
    func activationEnvironment() throws {
        #expect(try SystemdActivation.descriptors(environment: [:], pid: 42) == [])
        #expect(try SystemdActivation.descriptors(environment: ["LISTEN_PID": "42", "LISTEN_FDS": "3"], pid: 42) == [3, 4, 5])
        #expect(try SystemdActivation.descriptors(environment: ["LISTEN_PID": "41", "LISTEN_FDS": "3"], pid: 42) == [],
                "variables meant for another process (a parent's, leaked) are ignored")
        #expect(throws: SystemdActivationError.malformed("LISTEN_FDS", "two")) {
            try SystemdActivation.descriptors(environment: ["LISTEN_PID": "42", "LISTEN_FDS": "two"], pid: 42)
        }
        #expect(throws: SystemdActivationError.malformed("LISTEN_PID", "-1")) {
            try SystemdActivation.descriptors(environment: ["LISTEN_PID": "-1", "LISTEN_FDS": "1"], pid: 42)
        }
        #expect(throws: SystemdActivationError.malformed("LISTEN_FDS", "")) {
            try SystemdActivation.descriptors(environment: ["LISTEN_PID": "42"], pid: 42)
        }
    }

    /// A datagram socket standing in for systemd's notification socket.
    final class NotifySocket {
        let fd: Int32
        init(address: SocketAddress) throws {
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard address.withSockAddr({ bind(fd, $0, $1) }) == 0 else { throw SystemError.last("bind") }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        deinit { close(fd) }
        func receive() -> String {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            return String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self)
        }
    }

    @Test("sd_notify: READY with MAINPID and STATUS, STOPPING, RELOADING, to a path or an abstract @name")
    func notify() throws {
        let name = "swiftlet-notify-test-\(getpid())"
        let receiver = try NotifySocket(address: SocketAddress(abstractUnixName: name))
        let notifier = SystemdNotifier(socketPath: "@" + name)
        #expect(notifier.isEnabled)
        try notifier.ready(status: "serving /srv")
        #expect(receiver.receive() == "READY=1\nMAINPID=\(getpid())\nSTATUS=serving /srv")
        try notifier.stopping()
        #expect(receiver.receive() == "STOPPING=1")
        try notifier.reloading()
        #expect(receiver.receive().hasPrefix("RELOADING=1\nMONOTONIC_USEC="))

        let path = "/tmp/swiftlet-notify-\(getpid())"
        unlink(path)
        defer { unlink(path) }
        let fileReceiver = try NotifySocket(address: SocketAddress(unixPath: path))
        try SystemdNotifier(socketPath: path).stopping()
        #expect(fileReceiver.receive() == "STOPPING=1")
        #expect(!SystemdNotifier(socketPath: nil).isEnabled)
        try SystemdNotifier(socketPath: nil).ready()  // nothing to tell: no error
    }

    @Test("a server listens on TCP and a Unix socket at once, in order, and removes its socket file when it stops")
    func serverOnSeveralAddresses() throws {
        let path = "/tmp/swiftlet-listen-test-\(getpid()).sock"
        unlink(path)
        var configuration = ServerConfiguration()
        configuration.listen = [.tcp(host: "127.0.0.1", port: 0), .unix(path: path, mode: 0o660)]
        configuration.loops = 2
        let server = try Server(configuration: configuration) { _ in OKHandler() }
        try server.start()
        let addresses = server.localAddresses
        #expect(addresses.count == 2 && addresses[0].port == server.port && server.port != 0)
        #expect(addresses[1].unixPath == path)
        var status = stat()
        #expect(lstat(path, &status) == 0 && status.st_mode & 0o777 == 0o660)
        #expect(try ServerMetricsTests.exchange(port: server.port, "GET /ok HTTP/1.1\r\nhost: x\r\n\r\n", responses: 1).hasPrefix("HTTP/1.1 200"))
        for _ in 0..<4 {
            let client = try TestClient(address: SocketAddress(unixPath: path))
            try client.send(Array("GET /ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".utf8))
            #expect(String(decoding: try client.receive(exactly: 12), as: UTF8.self) == "HTTP/1.1 200")
        }
        server.beginGracefulShutdown()
        server.waitUntilStopped()
        #expect(lstat(path, &status) != 0 && errno == ENOENT)
    }

    @Test("a server that cannot bind one of its addresses starts nothing and leaves no socket file")
    func failedStart() throws {
        let path = "/tmp/swiftlet-listen-fail-\(getpid()).sock"
        unlink(path)
        let taken = try ListeningSocket.bind(SocketAddress(ip: "127.0.0.1", port: 0), options: ListenOptions())
        defer { taken.close() }
        var configuration = ServerConfiguration()
        configuration.listen = [.unix(path: path), .tcp(host: "127.0.0.1", port: taken.localAddress.port)]
        let server = try Server(configuration: configuration) { _ in OKHandler() }
        #expect(throws: SystemError.self) { try server.start() }
        #expect(!server.isStarted && server.localAddresses.isEmpty)
        var status = stat()
        #expect(lstat(path, &status) != 0, "the Unix socket bound first is removed again")
    }
}
