import CSwiftletSystem
import Glibc
import Logging
import Testing
@testable import SwiftletLoop
import SwiftletTestSupport

/// What tests observe about connections, readable from the test thread.
final class Observations: Sendable {
    let closes = Box<[CloseReason]>([])
    let received = Box<Int>(0)
    let eofs = Box<Int>(0)
}

/// Echoes everything; records closes.
final class EchoHandler: ConnectionHandler {
    let observations: Observations
    init(_ observations: Observations) { self.observations = observations }

    func connectionDidReceive(_ connection: Connection) {
        let input = connection.input
        observations.received.update { $0 += input.count }
        connection.write(input)
        connection.consume(input.count)
    }

    func connectionDidReceiveEOF(_ connection: Connection) {
        observations.eofs.update { $0 += 1 }
        connection.close()
    }

    func connectionDidClose(_ connection: Connection, reason: CloseReason) {
        observations.closes.update { $0.append(reason) }
    }
}

/// Sends `total` bytes of the test pattern as borrowed memory, then closes.
final class BulkSender: ConnectionHandler {
    final class Payload {
        let bytes: UnsafeMutableRawBufferPointer
        init(count: Int) {
            bytes = .allocate(byteCount: count, alignment: 64)
            Pattern.fill(bytes)
        }
        deinit { bytes.deallocate() }
    }

    let observations: Observations
    let payload: Payload
    let sendBuffer: Int
    let shortWrites = Box<Int>(0)

    init(_ observations: Observations, payload: Payload, sendBuffer: Int) {
        self.observations = observations
        self.payload = payload
        self.sendBuffer = sendBuffer
    }

    func start(_ connection: Connection) {
        if sendBuffer > 0 { try? connection.setSendBufferSize(sendBuffer) }
        // Queue it in 1 MiB borrowed pieces, like a file cache would.
        let piece = 1 << 20
        var offset = 0
        while offset < payload.bytes.count {
            let n = min(piece, payload.bytes.count - offset)
            connection.write(borrowing: UnsafeRawBufferPointer(rebasing: payload.bytes[offset..<offset + n]), owner: payload)
            offset += n
        }
        connection.close()
    }

    func connectionDidReceive(_ connection: Connection) { connection.consume(connection.input.count) }

    func connectionDidClose(_ connection: Connection, reason: CloseReason) {
        shortWrites.set(connection.shortWriteCount)
        observations.closes.update { $0.append(reason) }
    }
}

func pattern(_ count: Int) -> [UInt8] { Pattern.bytes(count) }

@Suite("EventLoop on both backends", .serialized)
struct EventLoopTests {
    @Test("the requested backend is the one in use", arguments: allBackends)
    func backendSelection(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend)
        #expect(harness.loop.backendKind.rawValue == backend.rawValue)
        let auto = try LoopHarness(backend: .auto)
        #expect(auto.loop.backendKind == .uring, "io_uring works on this kernel, so .auto picks it")
        #expect(auto.loop.backendReason.contains("io_uring"))
    }

    @Test("echo through 200 concurrent connections", arguments: allBackends)
    func echoManyConnections(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend)
        let observations = Observations()
        let port = try harness.onLoop { loop in
            try loop.listen(host: "127.0.0.1", port: 0) { $0.handler = EchoHandler(observations) }.port
        }
        var clients: [TestClient] = []
        for _ in 0..<200 { clients.append(try TestClient(port: port)) }
        for round in 0..<5 {
            for (index, client) in clients.enumerated() {
                try client.send(pattern(1 + (index * 37 + round * 101) % 3000))
            }
            for (index, client) in clients.enumerated() {
                let expected = pattern(1 + (index * 37 + round * 101) % 3000)
                #expect(try client.receive(exactly: expected.count) == expected)
            }
        }
        #expect(try harness.onLoop { $0.connectionCount } == 200)
        clients.removeAll()
        #expect(try harness.waitUntil { $0.connectionCount == 0 && $0.releasedConnectionCount == 200 })
        let closes = observations.closes.get()
        #expect(closes.count == 200 && closes.allSatisfy { $0 == .peerClosed })
        #expect(try harness.onLoop { loop in loop.ringPool.inUse == 0 && loop.bufferPool.inUse == 0 })
    }

    @Test("64 MiB through a small SO_SNDBUF: partial writes resume exactly", arguments: allBackends)
    func largeTransferWithPartialWrites(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend)
        let observations = Observations()
        let total = 64 << 20
        let shortWrites = Box<Box<Int>?>(nil)
        let port = try harness.onLoop { loop in
            let payload = BulkSender.Payload(count: total)
            return try loop.listen(host: "127.0.0.1", port: 0) { connection in
                // 256 KiB is small next to the 1 MiB each flush offers, so every
                // send is partial. (Much smaller stalls loopback TCP: a buffer
                // holding one 64 KiB segment waits out a 40 ms delayed ACK per
                // segment, which would make this test take minutes.)
                let sender = BulkSender(observations, payload: payload, sendBuffer: 256 * 1024)
                shortWrites.set(sender.shortWrites)
                connection.handler = sender
                sender.start(connection)
            }.port
        }
        let client = try TestClient(port: port)
        // The sender's SO_SNDBUF is what is small. (Shrinking the receiver's
        // buffer too would stall loopback TCP: with a 64 KiB MSS, silly-window
        // avoidance never reopens a window that small.)
        var reads = 0
        let result = try client.drainVerifying(chunk: 8192) {
            reads += 1
            if reads < 200 { usleep(200) }  // a slow start keeps the sender's buffer full
        }
        #expect(result.count == total)
        #expect(result.intact, "every byte arrived, in order")
        #expect(try harness.waitUntil { $0.releasedConnectionCount == 1 })
        #expect(observations.closes.get().count == 1)
        let partial = shortWrites.get()!.get()
        #expect(partial > 0, "the small send buffer forced partial writes (\(partial))")
    }

    @Test("a peer reset mid-transfer closes the connection once, with .reset", arguments: allBackends)
    func peerResetMidTransfer(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend)
        let observations = Observations()
        let port = try harness.onLoop { loop in
            let payload = BulkSender.Payload(count: 64 << 20)
            return try loop.listen(host: "127.0.0.1", port: 0) { connection in
                let sender = BulkSender(observations, payload: payload, sendBuffer: 16384)
                connection.handler = sender
                sender.start(connection)
            }.port
        }
        do {
            let client = try TestClient(port: port)
            _ = try client.receive(exactly: 1 << 20)
            client.reset()
        }
        #expect(try harness.waitUntil { $0.releasedConnectionCount == 1 && $0.connectionCount == 0 })
        #expect(observations.closes.get() == [.reset])
        #expect(try harness.onLoop { loop in loop.ringPool.inUse == 0 && loop.bufferPool.inUse == 0 })
    }

    @Test("a peer that closes without reading (EPIPE/ECONNRESET on send) closes once", arguments: allBackends)
    func peerClosesWithoutReading(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend)
        let observations = Observations()
        let port = try harness.onLoop { loop in
            let payload = BulkSender.Payload(count: 64 << 20)
            return try loop.listen(host: "127.0.0.1", port: 0) { connection in
                let sender = BulkSender(observations, payload: payload, sendBuffer: 16384)
                connection.handler = sender
                sender.start(connection)
            }.port
        }
        do {
            let client = try TestClient(port: port)
            _ = try client.receive(exactly: 1000)
            // Closing with unread data in the receive buffer makes the kernel send RST.
        }
        #expect(try harness.waitUntil { $0.releasedConnectionCount == 1 })
        #expect(observations.closes.get() == [.reset])
    }

    @Test("peer FIN: the handler hears EOF, echoes what came before it, closes once", arguments: allBackends)
    func peerFin(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend)
        let observations = Observations()
        let port = try harness.onLoop { loop in
            try loop.listen(host: "127.0.0.1", port: 0) { $0.handler = EchoHandler(observations) }.port
        }
        let client = try TestClient(port: port)
        try client.send(pattern(10_000))
        client.shutdownWrite()
        let echoed = try client.drainVerifying()
        #expect(echoed.count == 10_000 && echoed.intact)
        #expect(try harness.waitUntil { $0.releasedConnectionCount == 1 })
        #expect(observations.eofs.get() == 1)
        #expect(observations.closes.get() == [.peerClosed])
    }

    @Test("local close while a send and a receive are in flight: once, nothing leaks", arguments: allBackends)
    func localCloseWithIOInFlight(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend)
        let observations = Observations()
        let connections = Box<Int>(0)
        let port = try harness.onLoop { loop in
            let payload = BulkSender.Payload(count: 16 << 20)
            return try loop.listen(host: "127.0.0.1", port: 0) { connection in
                let sender = BulkSender(observations, payload: payload, sendBuffer: 4096)
                connection.handler = sender
                try? connection.setSendBufferSize(4096)
                connection.write(borrowing: UnsafeRawBufferPointer(payload.bytes), owner: payload)
                connections.update { $0 += 1 }
                // Two turns later, with the send stuck on a full socket, close hard.
                loop.timers.schedule(at: loop.now + 20_000_000) {
                    connection.close(.immediately)
                    connection.close(.immediately)
                    connection.close()
                }
            }.port
        }
        let client = try TestClient(port: port)
        _ = try client.receive(exactly: 100)
        #expect(try harness.waitUntil { $0.releasedConnectionCount == 1 })
        #expect(observations.closes.get() == [.local])
        let rest = try client.drainVerifying()
        #expect(rest.count < 16 << 20, "the transfer was cut short")
        #expect(try harness.onLoop { loop in loop.ringPool.inUse == 0 && loop.bufferPool.inUse == 0 })
    }

    @Test("timers on the loop follow an injected clock", arguments: allBackends)
    func timersWithManualClock(backend: EventLoop.BackendChoice) throws {
        let clock = ManualClock()
        let harness = try LoopHarness(backend: backend, clock: clock)
        let log = Box<[String]>([])
        try harness.onLoop { loop in
            loop.timers.schedule(at: loop.now + 30_000_000_000) { log.update { $0.append("30s") } }
            loop.timers.schedule(at: loop.now + 10_000_000_000) { log.update { $0.append("10s") } }
            let cancelled = loop.timers.schedule(at: loop.now + 20_000_000_000) { log.update { $0.append("20s") } }
            loop.timers.schedule(at: loop.now + 5_000_000_000) { loop.timers.cancel(cancelled) }
        }
        clock.advance(by: .seconds(9))
        _ = try harness.onLoop { _ in () }
        _ = try harness.onLoop { _ in () }
        #expect(log.get() == [])
        clock.advance(by: .seconds(60))
        #expect(try harness.waitUntil { _ in log.get().count == 2 })
        #expect(log.get() == ["10s", "30s"])
    }

    @Test("events handled after a long wait see the time they arrived, so new timers are not already due",
          arguments: allBackends)
    func clockIsFreshWhenEventsAreHandled(backend: EventLoop.BackendChoice) throws {
        let clock = ManualClock()
        let harness = try LoopHarness(backend: backend, clock: clock)
        let fired = Box<Int>(0)
        let acceptedAt = Box<UInt64>(0)
        let port = try harness.onLoop { loop in
            try loop.listen(host: "127.0.0.1", port: 0) { connection in
                // As a server does: a timeout for the first bytes, from now.
                acceptedAt.set(loop.now)
                loop.timers.schedule(at: loop.now + 10_000_000_000) { fired.update { $0 += 1 } }
                connection.handler = EchoHandler(Observations())
            }.port
        }
        let start = try harness.onLoop { $0.now }
        // The loop sleeps (no timers) while a minute passes; then a client comes.
        clock.advance(by: .seconds(60))
        let client = try TestClient(port: port)
        try client.send([1])
        #expect(try client.receive(exactly: 1) == [1])
        _ = try harness.onLoop { _ in () }
        #expect(acceptedAt.get() >= start + 60_000_000_000, "the accept callback saw the time before the wait")
        #expect(fired.get() == 0, "a 10 s timeout set at accept fired at once")
        clock.advance(by: .seconds(11))
        #expect(try harness.waitUntil { _ in fired.get() == 1 })
    }

    @Test("1 000 000 execute calls from 4 threads: none lost, each thread's in order", arguments: allBackends)
    func executeFromManyThreads(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend)
        let loop = harness.loop
        final class State: @unchecked Sendable {
            var count = 0
            var last = [Int](repeating: -1, count: 4)
            var outOfOrder = 0
        }
        let state = State()  // touched only on the loop thread
        let perThread = 250_000
        var threads: [pthread_t] = []
        final class Work: @unchecked Sendable {
            let loop: EventLoop; let thread: Int; let count: Int; let state: State
            init(loop: EventLoop, thread: Int, count: Int, state: State) {
                self.loop = loop; self.thread = thread; self.count = count; self.state = state
            }
        }
        for thread in 0..<4 {
            let work = Work(loop: loop, thread: thread, count: perThread, state: state)
            var handle = pthread_t()
            pthread_create(&handle, nil, { raw in
                let work = Unmanaged<Work>.fromOpaque(raw!).takeRetainedValue()
                let state = work.state
                let thread = work.thread
                for sequence in 0..<work.count {
                    work.loop.execute {
                        if state.last[thread] != sequence - 1 { state.outOfOrder += 1 }
                        state.last[thread] = sequence
                        state.count += 1
                    }
                }
                return nil
            }, Unmanaged.passRetained(work).toOpaque())
            threads.append(handle)
        }
        for handle in threads { pthread_join(handle, nil) }
        #expect(try harness.waitUntil(seconds: 30) { _ in state.count == 4 * perThread })
        #expect(try harness.onLoop { _ in state.outOfOrder } == 0)
    }

    @Test("stop() from another thread ends run() after the current turn", arguments: allBackends)
    func stopFromAnotherThread(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend)
        let turn = try harness.onLoop { $0.turn }
        harness.shutdown()  // stop + join: returns only if run() returned
        #expect(turn >= 0)
    }

    @Test("records straddling the ring's end are parsed in place", arguments: allBackends)
    func recordsStraddleTheRing(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend) { $0.receiveRingSize = 4096 }
        /// Parses [u16 length][payload] records in place; checks each payload.
        final class RecordParser: ConnectionHandler {
            let good = Box<Int>(0)
            let bad = Box<Int>(0)
            let straddled = Box<Int>(0)
            func connectionDidReceive(_ connection: Connection) {
                let ring = connection.receiveRing!
                let base = ring.addressForTesting(offset: 0)
                var input = connection.input
                while input.count >= 2 {
                    let length = Int(input[0]) << 8 | Int(input[1])
                    guard input.count >= 2 + length else { break }
                    let payload = UnsafeRawBufferPointer(rebasing: input[2..<2 + length])
                    let offset = payload.baseAddress! - base
                    if offset + length > ring.capacity { straddled.update { $0 += 1 } }
                    var ok = true
                    for index in 0..<length where payload[index] != patternByte(index + length) { ok = false; break }
                    (ok ? good : bad).update { $0 += 1 }
                    connection.consume(2 + length)
                    input = connection.input
                }
            }
            func connectionDidClose(_ connection: Connection, reason: CloseReason) {}
        }
        let parser = Box<(Box<Int>, Box<Int>, Box<Int>)?>(nil)
        let port = try harness.onLoop { loop in
            try loop.listen(host: "127.0.0.1", port: 0) { connection in
                let handler = RecordParser()
                parser.set((handler.good, handler.bad, handler.straddled))
                connection.handler = handler
            }.port
        }
        let client = try TestClient(port: port)
        var stream: [UInt8] = []
        let count = 2000
        for index in 0..<count {
            let length = 500 + (index * 977) % 2500
            stream += [UInt8(length >> 8), UInt8(length & 0xFF)]
            stream += (0..<length).map { patternByte($0 + length) }
        }
        // Odd-sized writes so records arrive split at arbitrary points.
        var offset = 0
        var step = 0
        while offset < stream.count {
            let n = min(stream.count - offset, 1000 + (step * 7919) % 6000)
            try client.send(Array(stream[offset..<offset + n]))
            offset += n
            step += 1
        }
        #expect(try harness.waitUntil { _ in parser.get()?.0.get() == count })
        let (good, bad, straddled) = parser.get()!
        #expect(good.get() == count && bad.get() == 0)
        #expect(straddled.get() > 0, "some records crossed the ring's end and were read in place")
    }

    @Test("rings and send blocks are pooled; idle connections hold none", arguments: allBackends)
    func poolReuseAndIdleConnections(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend)
        let observations = Observations()
        let port = try harness.onLoop { loop in
            try loop.listen(host: "127.0.0.1", port: 0) { $0.handler = EchoHandler(observations) }.port
        }
        for _ in 0..<300 {
            let client = try TestClient(port: port)
            try client.send(pattern(100))
            _ = try client.receive(exactly: 100)
        }
        #expect(try harness.waitUntil { $0.releasedConnectionCount == 300 })
        let (created, reused) = try harness.onLoop { ($0.ringPool.created, $0.ringPool.reused) }
        #expect(created <= 4, "rings are reused, not made per connection (made \(created))")
        #expect(reused >= 296)
        // 50 open connections that exchanged data and went quiet hold no buffers.
        var idle: [TestClient] = []
        for _ in 0..<50 {
            let client = try TestClient(port: port)
            try client.send(pattern(10))
            _ = try client.receive(exactly: 10)
            idle.append(client)
        }
        #expect(try harness.waitUntil { $0.connectionCount == 50 && $0.ringPool.inUse == 0 && $0.bufferPool.inUse == 0 })
        idle.removeAll()
    }

    @Test("io_uring: a quiet connection keeps its ring for the grace period, then returns it")
    func uringParkedRingIsReturnedAfterGracePeriod() throws {
        let clock = ManualClock()
        let harness = try LoopHarness(backend: .uring, configure: { $0.receiveRingGracePeriod = .milliseconds(200) }, clock: clock)
        let observations = Observations()
        let port = try harness.onLoop { loop in
            try loop.listen(host: "127.0.0.1", port: 0) { $0.handler = EchoHandler(observations) }.port
        }
        let client = try TestClient(port: port)
        try client.send([1, 2, 3])
        _ = try client.receive(exactly: 3)
        // Recently active: the empty ring stays, with a recv posted into it.
        #expect(try harness.waitUntil { $0.ringPool.inUse == 1 })
        clock.advance(by: .milliseconds(150))
        _ = try harness.onLoop { _ in () }
        _ = try harness.onLoop { _ in () }
        #expect(try harness.onLoop { $0.ringPool.inUse } == 1, "within the grace period the ring is kept")
        clock.advance(by: .milliseconds(200))
        #expect(try harness.waitUntil { $0.ringPool.inUse == 0 }, "after it, the recv is cancelled and the ring returned")
        // And the connection still works, now through poll then recv.
        try client.send([4, 5])
        #expect(try client.receive(exactly: 2) == [4, 5])
    }

    @Test("after a burst, the pool's rings beyond the warm ones give their memory back one trim interval later")
    func ringPoolTrimmedAfterBurst() throws {
        let clock = ManualClock()
        // io_uring keeps a quiet connection's ring for the grace period, so
        // five connections hold five rings at once.
        let harness = try LoopHarness(backend: .uring, configure: {
            $0.receiveRingGracePeriod = .milliseconds(200)
            $0.warmPooledRings = 2
            $0.trimInterval = .seconds(1)
        }, clock: clock)
        let observations = Observations()
        let port = try harness.onLoop { loop in
            try loop.listen(host: "127.0.0.1", port: 0) { $0.handler = EchoHandler(observations) }.port
        }
        var clients: [TestClient] = []
        for index in 0..<5 {
            let client = try TestClient(port: port)
            try client.send([UInt8(index)])
            _ = try client.receive(exactly: 1)
            clients.append(client)
        }
        #expect(try harness.waitUntil { $0.ringPool.inUse == 5 })
        clients.removeAll()
        #expect(try harness.waitUntil { $0.connectionCount == 0 && $0.ringPool.freeCount == 5 })
        #expect(try harness.onLoop { $0.ringPool.warmCount } == 5, "returned rings stay warm until the trim")
        clock.advance(by: .milliseconds(500))
        _ = try harness.onLoop { _ in () }
        _ = try harness.onLoop { _ in () }
        #expect(try harness.onLoop { $0.ringPool.coldCount } == 0, "not before the interval")
        clock.advance(by: .milliseconds(600))
        #expect(try harness.waitUntil { $0.ringPool.coldCount == 3 && $0.ringPool.warmCount == 2 })
    }

    @Test("io_uring: a new connection receives at once with a spare ring; a silent one returns it after the grace period and polls from then on")
    func uringNewConnectionReceivesAtOnce() throws {
        let clock = ManualClock()
        let harness = try LoopHarness(backend: .uring, configure: { $0.receiveRingGracePeriod = .milliseconds(200) }, clock: clock)
        let observations = Observations()
        let port = try harness.onLoop { loop in
            try loop.listen(host: "127.0.0.1", port: 0) { $0.handler = EchoHandler(observations) }.port
        }
        // A first connection leaves a spare ring in the pool when it closes.
        do {
            let first = try TestClient(port: port)
            try first.send([1])
            _ = try first.receive(exactly: 1)
        }
        #expect(try harness.waitUntil { $0.connectionCount == 0 && $0.ringPool.freeCount == 1 })
        // A new connection that says nothing: its recv is posted at once, into the spare ring.
        let silent = try TestClient(port: port)
        #expect(try harness.waitUntil { $0.connectionCount == 1 && $0.ringPool.inUse == 1 })
        clock.advance(by: .milliseconds(400))
        #expect(try harness.waitUntil { $0.ringPool.inUse == 0 }, "silent past the grace period: the ring goes back")
        // Once only: later turns and sweeps do not lend it a ring again.
        for _ in 0..<3 {
            clock.advance(by: .milliseconds(400))
            _ = try harness.onLoop { _ in () }
            _ = try harness.onLoop { _ in () }
            #expect(try harness.onLoop { $0.ringPool.inUse } == 0)
        }
        try silent.send([2, 3])
        #expect(try silent.receive(exactly: 2) == [2, 3])
    }

    @Test("an accepted connection knows its client's address and port (epoll: from accept4; io_uring: getpeername)", arguments: allBackends)
    func acceptedConnectionsKnowTheirPeer(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend)
        let peers = Box<[String]>([])
        let observations = Observations()
        var expected: [String] = []
        for host in ["127.0.0.1", "::1"] {
            let port = try harness.onLoop { loop in
                try loop.listen(host: host, port: 0) { connection in
                    peers.update { $0.append(connection.remoteAddress?.description ?? "none") }
                    connection.handler = EchoHandler(observations)
                }.port
            }
            let client = try TestClient(port: port, host: host)
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            _ = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(client.fd, $0, &length) }
            }
            expected.append(SocketAddress(storage: storage, length: length).description)
            try client.send([7])
            #expect(try client.receive(exactly: 1) == [7])
        }
        #expect(peers.get() == expected)
        #expect(expected.first?.hasPrefix("127.0.0.1:") == true && expected.last?.hasPrefix("[::1]:") == true)
    }

    @Test("accepted TCP connections have TCP_NODELAY, set once on the listening socket", arguments: allBackends)
    func acceptedConnectionsHaveNoDelay(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend)
        let values = Box<[Int32]>([])
        let observations = Observations()
        for host in ["127.0.0.1", "::1"] {
            let port = try harness.onLoop { loop in
                try loop.listen(host: host, port: 0) { connection in
                    var value: Int32 = 0
                    var size = socklen_t(MemoryLayout<Int32>.size)
                    _ = getsockopt(connection.fd, Int32(IPPROTO_TCP), TCP_NODELAY, &value, &size)
                    values.update { $0.append(value) }
                    connection.handler = EchoHandler(observations)
                }.port
            }
            let client = try TestClient(port: port, host: host)
            try client.send([7])
            #expect(try client.receive(exactly: 1) == [7])
        }
        #expect(values.get() == [1, 1])
    }

    @Test("io_uring with a zero grace period returns every empty ring at once")
    func uringZeroGracePeriod() throws {
        let harness = try LoopHarness(backend: .uring, configure: { $0.receiveRingGracePeriod = .zero })
        let observations = Observations()
        let port = try harness.onLoop { loop in
            try loop.listen(host: "127.0.0.1", port: 0) { $0.handler = EchoHandler(observations) }.port
        }
        let client = try TestClient(port: port)
        for round in 0..<20 {
            try client.send([UInt8(round)])
            #expect(try client.receive(exactly: 1) == [UInt8(round)])
        }
        #expect(try harness.waitUntil(seconds: 2) { $0.ringPool.inUse == 0 })
    }

    @Test("no descriptor is left open after 10 000 connections: only the listener remains on the port", arguments: allBackends)
    func noDescriptorLeaks(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend)
        let observations = Observations()
        let port = try harness.onLoop { loop in
            try loop.listen(host: "127.0.0.1", port: 0) { $0.handler = EchoHandler(observations) }.port
        }
        // Counting every descriptor of the process would race with the
        // suites that run in parallel (an ASan run once saw 43 before and 40
        // after); the sockets on this test's port are its own.
        #expect(openSocketCount(port: port) == 1, "the listener")
        for index in 0..<10_000 {
            let client = try TestClient(port: port)
            if index % 2 == 0 {
                try client.send([1, 2, 3])
                _ = try client.receive(exactly: 3)
            } else if index % 3 == 0 {
                client.reset()
            }
        }
        #expect(try harness.waitUntil(seconds: 30) { $0.releasedConnectionCount == 10_000 && $0.connectionCount == 0 })
        #expect(openSocketCount(port: port) == 1, "the listener, and no accepted connection left open")
        #expect(observations.closes.get().count == 10_000)
    }

    @Test("accept pauses on EMFILE without spinning, logs once, and resumes", arguments: allBackends)
    func acceptPausesOnDescriptorExhaustion(backend: EventLoop.BackendChoice) throws {
        let records = LogRecords()
        let harness = try LoopHarness(backend: backend)
        let observations = Observations()
        try harness.onLoop { loop in loop.logger = Logger(label: "test") { _ in records.handler } }
        // Make the client sockets first; connecting needs no new descriptor.
        var sockets: [Int32] = []
        for _ in 0..<12 { sockets.append(socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)) }
        // RLIMIT_NOFILE bounds descriptor numbers, and new descriptors fill
        // the lowest holes: occupy every free number below a lowered limit,
        // then free three: one for the listening socket, two for accepted
        // connections, after which accept meets EMFILE. (io_uring reads the
        // limit when an accept is prepared, so the listener is made after
        // lowering it, as a server started under a low limit would be.)
        var original = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &original)
        var low = original
        low.rlim_cur = rlim_t(sockets.max()! + 64)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &low)
        var fillers: [Int32] = []
        while true {
            let fd = open("/dev/null", O_RDONLY)
            if fd < 0 { break }
            fillers.append(fd)
        }
        for _ in 0..<3 { Glibc.close(fillers.removeLast()) }
        let port = try harness.onLoop { loop in
            try loop.listen(host: "127.0.0.1", port: 0) { $0.handler = EchoHandler(observations) }.port
        }
        let address = try SocketAddress(ip: "127.0.0.1", port: port)
        for fd in sockets { _ = address.withSockAddr { Glibc.connect(fd, $0, $1) } }
        #expect(try harness.waitUntil { loop in loop.connectionCount == 2 && records.count(containing: "paused") >= 1 })
        let turnsBefore = try harness.onLoop { $0.turn }
        usleep(300_000)
        let turnsDuring = try harness.onLoop { $0.turn } - turnsBefore
        #expect(turnsDuring < 100, "paused accept must not spin (\(turnsDuring) turns in 300 ms)")
        #expect(records.count(containing: "paused") == 1, "logged once per episode")
        #expect(try harness.onLoop { $0.connectionCount } == 2)
        for fd in fillers { Glibc.close(fd) }
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &original)
        #expect(try harness.waitUntil { $0.connectionCount == 12 }, "accepting resumed once descriptors were free")
        for fd in sockets { Glibc.close(fd) }
        #expect(try harness.waitUntil { $0.connectionCount == 0 })
    }

    @Test("IPv6 listener on ::1", arguments: allBackends)
    func ipv6(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend)
        let observations = Observations()
        let port = try harness.onLoop { loop in
            try loop.listen(host: "::1", port: 0) { $0.handler = EchoHandler(observations) }.port
        }
        let client = try TestClient(port: port, host: "::1")
        try client.send(pattern(1000))
        #expect(try client.receive(exactly: 1000) == pattern(1000))
    }

    @Test("SO_REUSEPORT: two loops share one port", arguments: allBackends)
    func reusePort(backend: EventLoop.BackendChoice) throws {
        let first = try LoopHarness(backend: backend)
        let second = try LoopHarness(backend: backend)
        let a = Observations()
        let b = Observations()
        let options = ListenOptions(reusePort: true)
        let port = try first.onLoop { loop in
            try loop.listen(host: "127.0.0.1", port: 0, options: options) { $0.handler = EchoHandler(a) }.port
        }
        _ = try second.onLoop { loop in
            try loop.listen(host: "127.0.0.1", port: port, options: options) { $0.handler = EchoHandler(b) }.port
        }
        for _ in 0..<200 {
            let client = try TestClient(port: port)
            try client.send([7])
            _ = try client.receive(exactly: 1)
        }
        #expect(a.received.get() + b.received.get() == 200)
        #expect(a.received.get() > 0 && b.received.get() > 0, "the kernel spread connections over both loops")
    }

    @Test("outbound connect: success, and refusal reported as connectFailed", arguments: allBackends)
    func outboundConnect(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend)
        let observations = Observations()
        final class Client: ConnectionHandler {
            let connected = Box<Bool>(false)
            let reply = Box<[UInt8]>([])
            let closes = Box<[CloseReason]>([])
            func connectionDidConnect(_ connection: Connection) {
                connected.set(true)
                connection.write([1, 2, 3] as [UInt8])
            }
            func connectionDidReceive(_ connection: Connection) {
                let bytes = Array(connection.input)
                reply.update { $0 += bytes }
                connection.consume(bytes.count)
                if reply.get().count == 3 { connection.close() }
            }
            func connectionDidClose(_ connection: Connection, reason: CloseReason) { closes.update { $0.append(reason) } }
        }
        let boxes = try harness.onLoop { loop -> (Box<Bool>, Box<[UInt8]>, Box<[CloseReason]>, Box<[CloseReason]>) in
            let listener = try loop.listen(host: "127.0.0.1", port: 0) { $0.handler = EchoHandler(observations) }
            let client = Client()
            try loop.connect(to: try SocketAddress(ip: "127.0.0.1", port: listener.port), handler: client)
            // A port nobody listens on: bound by a socket that never listens.
            let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            let any = try SocketAddress(ip: "127.0.0.1", port: 0)
            _ = any.withSockAddr { bind(holder, $0, $1) }
            var bound = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            _ = withUnsafeMutablePointer(to: &bound) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(holder, $0, &length) }
            }
            let dead = SocketAddress(storage: bound, length: length).port
            let refused = Client()
            try loop.connect(to: try SocketAddress(ip: "127.0.0.1", port: dead), handler: refused)
            loop.timers.schedule(at: loop.now + 5_000_000_000) { Glibc.close(holder) }
            return (client.connected, client.reply, client.closes, refused.closes)
        }
        #expect(try harness.waitUntil { _ in boxes.2.get().count == 1 && boxes.3.get().count == 1 })
        #expect(boxes.0.get())
        #expect(boxes.1.get() == [1, 2, 3])
        #expect(boxes.3.get() == [.connectFailed(SystemError("connect", errno: ECONNREFUSED))])
    }

    @Test("a signal runs its callback on the loop thread", arguments: allBackends)
    func signals(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend)
        let count = Box<Int>(0)
        try harness.onLoop { loop in
            try loop.onSignal(SIGUSR2) { count.update { $0 += 1 } }
            // Thread-directed, to the loop thread that blocks it.
            pthread_kill(pthread_self(), SIGUSR2)
        }
        #expect(try harness.waitUntil { _ in count.get() == 1 })
    }

    @Test("an adopted socketpair end is served like an accepted connection", arguments: allBackends)
    func adoptSocketpair(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend)
        let observations = Observations()
        var ends: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0)
        let served = ends[1]
        let remote = try harness.onLoop { loop in
            try loop.adopt(socket: served) { $0.handler = EchoHandler(observations) }.remoteAddress
        }
        #expect(remote?.isUnix == true && remote?.unixPath == nil && remote?.host == "unix",
                "a socketpair end is an unnamed Unix socket: logged as unix")
        let message = pattern(32_768)  // fits the socket buffer: one blocking write
        #expect(message.withUnsafeBytes { Glibc.write(ends[0], $0.baseAddress, $0.count) } == message.count)
        var echoed: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while echoed.count < message.count {
            let count = Glibc.read(ends[0], &buffer, buffer.count)
            guard count > 0 else { break }
            echoed += buffer[0..<count]
        }
        #expect(echoed == message)
        Glibc.close(ends[0])
        #expect(try harness.waitUntil { _ in observations.closes.get() == [.peerClosed] })
        #expect(try harness.waitUntil { $0.connectionCount == 0 })
    }
}

/// A log handler that keeps messages for assertions.
final class LogRecords: Sendable {
    private let messages = Box<[String]>([])

    var handler: any LogHandler { Handler(records: self) }

    func append(_ message: String) { messages.update { $0.append(message) } }

    func count(containing text: String) -> Int { messages.get().filter { $0.contains(text) }.count }

    struct Handler: LogHandler {
        let records: LogRecords
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            records.append(event.message.description)
        }
    }
}

@Suite("Turns that did no work")
struct EmptyTurnTests {
    final class Sink: ConnectionHandler {
        var received = 0
        func connectionDidReceive(_ connection: Connection) {
            received += connection.input.count
            connection.consume(connection.input.count)
        }
        func connectionDidClose(_ connection: Connection, reason: CloseReason) {}
    }

    @Test("a turn counts as empty only when no event, timer, task or input made it do anything", arguments: allBackends)
    func emptyTurnsAreCounted(backend: EventLoop.BackendChoice) throws {
        let clock = ManualClock()
        var configuration = EventLoop.Configuration()
        configuration.backend = backend
        let loop = try EventLoop(configuration: configuration, clock: clock)
        defer { try? loop.close() }
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { close(pair[1]) }
        let sink = Sink()
        try loop.adopt(socket: pair[0]) { $0.handler = sink }
        for _ in 0..<5 { try loop.runTurn(maximumWait: 0) }  // settle what adopting armed
        let settled = loop.emptyTurns
        for _ in 0..<5 { try loop.runTurn(maximumWait: 0) }
        #expect(loop.emptyTurns == settled + 5, "nothing happened: five empty turns")

        loop.execute {}
        try loop.runTurn(maximumWait: 1_000_000_000)
        #expect(loop.emptyTurns == settled + 5, "a task ran")

        loop.timers.schedule(at: loop.now + 1_000_000) {}
        clock.advance(by: .milliseconds(2))
        try loop.runTurn(maximumWait: 0)
        #expect(loop.emptyTurns == settled + 5, "a timer fired")

        #expect(write(pair[1], "x", 1) == 1)
        var turns = 0
        while sink.received == 0 && turns < 10 {
            try loop.runTurn(maximumWait: 5_000_000_000)
            turns += 1
        }
        #expect(sink.received == 1)
        #expect(loop.emptyTurns == settled + 5, "the byte arrived: every turn until then had an event")
    }
}
