// swiftlet-echo-bench: echo throughput of the event loop, io_uring versus
// epoll, measured from a separate load process.
//
//   swiftlet-echo-bench compare                 # the table for docs/benchmarks
//   swiftlet-echo-bench server --io uring       # one echo server
//   swiftlet-echo-bench load --port P ...       # one load generator
//
// The server counts its heap allocations (CAllocationCounter) and CPU time;
// the load process signals it (SIGUSR1) at the start and end of the measured
// window, so allocations per message cover exactly the steady state.
import ArgumentParser
import CAllocationCounter
import CSwiftletSystem
import Foundation
import SwiftletLoop

@main
struct EchoBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftlet-echo-bench",
        abstract: "Echo throughput of the Swiftlet event loop: io_uring versus epoll.",
        subcommands: [Compare.self, Server.self, Load.self],
        defaultSubcommand: Compare.self
    )
}

extension EventLoop.BackendChoice: ExpressibleByArgument {}

// MARK: - server

final class EchoHandler: ConnectionHandler {
    func connectionDidReceive(_ connection: Connection) {
        let input = connection.input
        connection.write(input)
        connection.consume(input.count)
        if !connection.isWritable { connection.pauseReading() }
    }

    func connectionWritabilityDidChange(_ connection: Connection) {
        if connection.isWritable { connection.resumeReading() }
    }

    func connectionDidClose(_ connection: Connection, reason: CloseReason) {}
}

func cpuNanoseconds() -> UInt64 {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let user = UInt64(usage.ru_utime.tv_sec) * 1_000_000_000 + UInt64(usage.ru_utime.tv_usec) * 1000
    let system = UInt64(usage.ru_stime.tv_sec) * 1_000_000_000 + UInt64(usage.ru_stime.tv_usec) * 1000
    return user + system
}

struct Server: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run an echo server; print its port, then a stats line per SIGUSR1.")

    @Option(help: "Backend: auto, uring or epoll.") var io: EventLoop.BackendChoice = .auto
    @Option(help: "Port (0: any free port).") var port: UInt16 = 0
    @Option(help: "CPU to pin the server to (-1: no pinning).") var cpu: Int32 = -1

    func run() throws {
        Signals.block([SIGUSR1, SIGTERM, SIGINT])
        if cpu >= 0 { _ = swiftlet_pin_to_cpu(cpu) }
        let loop = try EventLoop(configuration: .init(backend: io))
        let handler = EchoHandler()
        let listener = try loop.listen(host: "127.0.0.1", port: port, options: ListenOptions(backlog: 4096)) { connection in
            connection.handler = handler
        }
        try loop.onSignal(SIGUSR1) {
            // Read the counters before printing: the print allocates.
            let allocations = swiftlet_allocation_count()
            let cpu = cpuNanoseconds()
            print("stats allocations=\(allocations) cpu_ns=\(cpu)")
            fflush(nil)
        }
        try loop.onSignal(SIGTERM) { loop.stop() }
        try loop.onSignal(SIGINT) { loop.stop() }
        print("listening port=\(listener.port) backend=\(loop.backendKind.rawValue) counter=\(swiftlet_allocation_counter_active())")
        fflush(nil)
        try loop.run()
        try loop.close()
    }
}

// MARK: - load

final class LoadStatistics {
    var messages: UInt64 = 0
    var connected = 0
    var failed = 0
}

final class LoadClient: ConnectionHandler {
    let message: UnsafeRawBufferPointer
    let statistics: LoadStatistics
    var pending = 0

    init(message: UnsafeRawBufferPointer, statistics: LoadStatistics) {
        self.message = message
        self.statistics = statistics
    }

    func connectionDidConnect(_ connection: Connection) {
        statistics.connected += 1
        connection.write(message)
    }

    func connectionDidReceive(_ connection: Connection) {
        pending += connection.input.count
        connection.consume(connection.input.count)
        while pending >= message.count {
            pending -= message.count
            statistics.messages += 1
            connection.write(message)
        }
    }

    func connectionDidClose(_ connection: Connection, reason: CloseReason) {
        if case .loopClosed = reason { return }
        statistics.failed += 1
    }
}

struct Load: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ping-pong messages against an echo server and report messages/s.")

    @Option(help: "Server port.") var port: UInt16
    @Option(help: "Connections.") var connections = 100
    @Option(help: "Message size in bytes.") var messageSize = 64
    @Option(help: "Warm-up seconds (not measured).") var warmup: Double = 1
    @Option(help: "Measured seconds.") var duration: Double = 5
    @Option(help: "Server process to signal (SIGUSR1) at the start and end of the measured window.") var serverPid: Int32 = 0
    @Option(help: "Backend of the load generator's own loop.") var io: EventLoop.BackendChoice = .epoll
    @Option(help: "CPU to pin the load generator to (-1: no pinning).") var cpu: Int32 = -1

    func run() throws {
        if cpu >= 0 { _ = swiftlet_pin_to_cpu(cpu) }
        let loop = try EventLoop(configuration: .init(backend: io))
        let statistics = LoadStatistics()
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: messageSize, alignment: 8)
        for index in 0..<messageSize { bytes[index] = UInt8(truncatingIfNeeded: index) }
        let message = UnsafeRawBufferPointer(bytes)
        let address = try SocketAddress(ip: "127.0.0.1", port: port)
        var clients: [LoadClient] = []
        for _ in 0..<connections {
            let client = LoadClient(message: message, statistics: statistics)
            clients.append(client)
            try loop.connect(to: address, handler: client)
        }
        let serverPid = self.serverPid
        var startMessages: UInt64 = 0
        var startTime: UInt64 = 0
        var result: (UInt64, UInt64) = (0, 0)
        loop.timers.schedule(at: loop.now + Duration.seconds(warmup).nanoseconds) {
            if serverPid > 0 { kill(serverPid, SIGUSR1) }
            startMessages = statistics.messages
            startTime = MonotonicClock().now()
            loop.timers.schedule(at: loop.now + Duration.seconds(duration).nanoseconds) {
                let end = MonotonicClock().now()
                if serverPid > 0 { kill(serverPid, SIGUSR1) }
                result = (statistics.messages - startMessages, end - startTime)
                loop.stop()
            }
        }
        try loop.run()
        try loop.close()
        let seconds = Double(result.1) / 1e9
        print("result messages=\(result.0) seconds=\(seconds) connected=\(statistics.connected) failed=\(statistics.failed)")
        bytes.deallocate()
        withExtendedLifetime(clients) {}
    }
}

// MARK: - compare

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run io_uring and epoll echo servers in turns at several connection counts; print a table.")

    @Option(help: "Connection counts, comma separated.") var connections = "1,100,1000"
    @Option(help: "Rounds per configuration (servers alternate each round).") var rounds = 3
    @Option(help: "Measured seconds per round.") var duration: Double = 3
    @Option(help: "Warm-up seconds per round.") var warmup: Double = 1
    @Option(help: "Message size in bytes.") var messageSize = 64
    @Option(help: "CPU for the server.") var serverCpu: Int32 = 0
    @Option(help: "CPU for the load generator.") var loadCpu: Int32 = 1
    @Flag(help: "Print JSON instead of a table.") var json = false

    struct Sample {
        var messages: UInt64
        var seconds: Double
        var allocations: UInt64
        var cpuNanoseconds: UInt64
    }

    func run() throws {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        let counts = connections.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let backends: [EventLoop.BackendChoice] = [.uring, .epoll]
        var samples: [String: [Sample]] = [:]
        for count in counts {
            for round in 0..<rounds {
                // Alternate which backend goes first so drift hits both alike.
                let order = round % 2 == 0 ? backends : backends.reversed()
                for backend in order {
                    let sample = try measure(executable: executable, backend: backend, connections: count)
                    samples["\(count)/\(backend.rawValue)", default: []].append(sample)
                    FileHandle.standardError.write("  \(count) conns \(backend.rawValue) round \(round + 1): \(Int(Double(sample.messages) / sample.seconds)) msg/s\n".data(using: .utf8)!)
                }
            }
        }
        func median(_ values: [Double]) -> Double {
            let sorted = values.sorted()
            return sorted[sorted.count / 2]
        }
        var rows: [[String: Any]] = []
        for count in counts {
            var rates: [String: Double] = [:]
            for backend in backends {
                let list = samples["\(count)/\(backend.rawValue)"] ?? []
                let rate = median(list.map { Double($0.messages) / $0.seconds })
                let allocations = median(list.map { Double($0.allocations) / Double(max($0.messages, 1)) })
                let cpu = median(list.map { Double($0.cpuNanoseconds) / Double(max($0.messages, 1)) })
                rates[backend.rawValue] = rate
                rows.append(["connections": count, "backend": backend.rawValue, "messagesPerSecond": rate,
                             "allocationsPerMessage": allocations, "serverCpuNanosecondsPerMessage": cpu])
            }
            rows.append(["connections": count, "backend": "uring/epoll", "ratio": (rates["uring"] ?? 0) / max(rates["epoll"] ?? 1, 1)])
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("echo, \(messageSize)-byte messages, ping-pong per connection; server on CPU \(serverCpu), load on CPU \(loadCpu); median of \(rounds) rounds of \(duration) s")
        print("connections  backend      messages/s   allocs/msg   server CPU ns/msg")
        for row in rows {
            let count = row["connections"] as! Int
            let backend = row["backend"] as! String
            if let ratio = row["ratio"] as? Double {
                print(String(format: "%11d  ", count) + backend.padding(toLength: 11, withPad: " ", startingAt: 0)
                      + String(format: "  %.2f× (io_uring messages/s ÷ epoll messages/s)", ratio))
            } else {
                print(String(format: "%11d  ", count) + backend.padding(toLength: 11, withPad: " ", startingAt: 0)
                      + String(format: "  %10.0f   %10.4f   %10.0f", row["messagesPerSecond"] as! Double,
                               row["allocationsPerMessage"] as! Double, row["serverCpuNanosecondsPerMessage"] as! Double))
            }
        }
    }

    private func measure(executable: String, backend: EventLoop.BackendChoice, connections: Int) throws -> Sample {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: executable)
        server.arguments = ["server", "--io", backend.rawValue, "--cpu", String(serverCpu)]
        let serverOut = Pipe()
        server.standardOutput = serverOut
        try server.run()
        defer {
            if server.isRunning { server.terminate() }
            server.waitUntilExit()
        }
        let reader = LineReader(handle: serverOut.fileHandleForReading)
        guard let first = reader.next(), let port = field(first, "port").flatMap(UInt16.init) else {
            throw ValidationError("echo server did not report its port")
        }
        let load = Process()
        load.executableURL = URL(fileURLWithPath: executable)
        load.arguments = ["load", "--port", String(port), "--connections", String(connections),
                          "--message-size", String(messageSize), "--warmup", String(warmup),
                          "--duration", String(duration), "--server-pid", String(server.processIdentifier),
                          "--cpu", String(loadCpu)]
        let loadOut = Pipe()
        load.standardOutput = loadOut
        try load.run()
        let loadReader = LineReader(handle: loadOut.fileHandleForReading)
        var resultLine: String?
        while let line = loadReader.next() {
            if line.hasPrefix("result") { resultLine = line }
        }
        load.waitUntilExit()
        guard let result = resultLine, let messages = field(result, "messages").flatMap(UInt64.init),
              let seconds = field(result, "seconds").flatMap(Double.init) else {
            throw ValidationError("load generator reported no result")
        }
        guard let before = reader.next(), let after = reader.next(),
              let a0 = field(before, "allocations").flatMap(UInt64.init), let a1 = field(after, "allocations").flatMap(UInt64.init),
              let c0 = field(before, "cpu_ns").flatMap(UInt64.init), let c1 = field(after, "cpu_ns").flatMap(UInt64.init) else {
            throw ValidationError("echo server reported no statistics")
        }
        return Sample(messages: messages, seconds: seconds, allocations: a1 - a0, cpuNanoseconds: c1 - c0)
    }

    private func field(_ line: String, _ name: String) -> String? {
        for part in line.split(separator: " ") where part.hasPrefix(name + "=") {
            return String(part.dropFirst(name.count + 1))
        }
        return nil
    }
}

/// Reads lines from a pipe, blocking.
final class LineReader {
    let handle: FileHandle
    var buffer = Data()

    init(handle: FileHandle) { self.handle = handle }

    func next() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                return line
            }
            let chunk = handle.availableData
            if chunk.isEmpty { return nil }
            buffer.append(chunk)
        }
    }
}
