import Glibc
import Testing
@testable import SwiftletLoop
import SwiftletTestSupport

/// A toy transport with TLS's shape: records of [u16 length][payload XOR
/// 0x5A], each received payload byte decoding to two plaintext bytes (so one
/// record's plaintext can outgrow the ring it came from). A zero-length record is its close_notify; a record starting with
/// 0xFF is "undecryptable" and fails the transport after an "alert" record.
/// A decoded record that does not fit the plaintext ring stays pending inside
/// the transport, as a TLS record does inside OpenSSL. Unlike OpenSSL it only
/// consumes whole records, so its records must fit the wire ring.
final class XorTransport: ConnectionTransport {
    static let key: UInt8 = 0x5A
    var wire: SendQueue?
    var pending: [UInt8] = []
    var pendingOffset = 0
    var heldPlaintext = Box<Int>(0)

    func attach(wire: SendQueue) { self.wire = wire }

    var hasPendingPlaintext: Bool { pendingOffset < pending.count }

    func receive(_ input: UnsafeRawBufferPointer, into plaintext: ReceiveRing) -> TransportEvent {
        var consumed = 0
        var produced = 0
        while true {
            if hasPendingPlaintext {
                let room = plaintext.writable
                let count = min(room.count, pending.count - pendingOffset)
                guard count > 0 else {
                    heldPlaintext.update { $0 += 1 }
                    break
                }
                pending.withUnsafeBytes { room.baseAddress!.copyMemory(from: $0.baseAddress! + pendingOffset, byteCount: count) }
                plaintext.commit(count)
                produced += count
                pendingOffset += count
                continue
            }
            guard input.count - consumed >= 2 else { break }
            let length = Int(input[consumed]) << 8 | Int(input[consumed + 1])
            if length == 0 {
                return TransportEvent(consumed: consumed + 2, produced: produced, status: .closed)
            }
            guard input.count - consumed >= 2 + length else { break }
            if input[consumed + 2] ^ Self.key == 0xFF {
                Self.frame([0xEE], into: wire!)  // the "alert"
                return TransportEvent(consumed: consumed + 2 + length, produced: produced, status: .failed("bad record"))
            }
            pending = input[(consumed + 2)..<(consumed + 2 + length)].flatMap { [$0 ^ Self.key, $0 ^ Self.key] }
            pendingOffset = 0
            consumed += 2 + length
        }
        return TransportEvent(consumed: consumed, produced: produced, status: .ok)
    }

    func encrypt(_ plaintext: SendQueue) {
        while let region = plaintext.firstRegion {
            let count = min(region.count, 0xFFFF)
            Self.frame(Array(region[0..<count]), into: wire!)
            plaintext.advance(by: count)
        }
    }

    func shutdown() { Self.frame([], into: wire!) }

    static func frame(_ plaintext: [UInt8], into queue: SendQueue) {
        encode(plaintext).withUnsafeBytes { queue.append(copying: $0) }
    }

    static func encode(_ plaintext: [UInt8]) -> [UInt8] {
        [UInt8(plaintext.count >> 8), UInt8(plaintext.count & 0xFF)] + plaintext.map { $0 ^ key }
    }

    /// Decodes a received record stream; nil when it ends mid-record.
    static func decode(_ wire: [UInt8]) -> (plaintext: [UInt8], records: [[UInt8]])? {
        var plaintext: [UInt8] = []
        var records: [[UInt8]] = []
        var offset = 0
        while offset < wire.count {
            guard wire.count - offset >= 2 else { return nil }
            let length = Int(wire[offset]) << 8 | Int(wire[offset + 1])
            guard wire.count - offset - 2 >= length else { return nil }
            let record = wire[(offset + 2)..<(offset + 2 + length)].map { $0 ^ key }
            records.append(record)
            plaintext += record
            offset += 2 + length
        }
        return (plaintext, records)
    }
}

/// What the test thread sees of the echo handler.
final class TransportObservations: Sendable {
    let closes = Box<[CloseReason]>([])
    let eofs = Box<Int>(0)
    let heldPlaintext = Box<Int>(0)
}

final class TransportEcho: ConnectionHandler {
    let transport = XorTransport()
    let closes: Box<[CloseReason]>
    let eofs: Box<Int>

    init(_ observations: TransportObservations) {
        closes = observations.closes
        eofs = observations.eofs
        transport.heldPlaintext = observations.heldPlaintext
    }

    func connectionDidReceive(_ connection: Connection) {
        connection.write(connection.input)
        connection.consume(connection.input.count)
    }

    func connectionDidReceiveEOF(_ connection: Connection) {
        eofs.update { $0 += 1 }
        connection.close()
    }

    func connectionDidClose(_ connection: Connection, reason: CloseReason) {
        closes.update { $0.append(reason) }
    }
}

extension TestClient {
    /// Reads until the server closes.
    func receiveAll() throws -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = Glibc.recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            result += buffer[0..<count]
        }
        return result
    }
}

/// Reads a cleartext preamble line ("HELLO\n"), consumes it, then installs
/// the transport and hands over to the echo: as a PROXY protocol header
/// comes before TLS.
final class PreambleThenTransport: ConnectionHandler {
    let echo: TransportEcho
    init(_ observations: TransportObservations) { echo = TransportEcho(observations) }

    func connectionDidReceive(_ connection: Connection) {
        guard let end = connection.input.firstIndex(of: 0x0A) else { return }
        connection.consume(end + 1)
        connection.install(transport: echo.transport)
        connection.handler = echo
    }

    func connectionDidClose(_ connection: Connection, reason: CloseReason) {}
}

@Suite("Connection with a transport", .serialized)
struct ConnectionTransportTests {
    func start(_ backend: EventLoop.BackendChoice) throws -> (LoopHarness, UInt16, TransportObservations) {
        // A plaintext ring smaller than one record: records wait in the transport.
        let harness = try LoopHarness(backend: backend) { $0.receiveRingSize = 4096 }
        let observations = TransportObservations()
        let port = try harness.onLoop { loop in
            try loop.listen(host: "127.0.0.1", port: 0) { connection in
                let echo = TransportEcho(observations)
                connection.install(transport: echo.transport)
                connection.handler = echo
            }.port
        }
        return (harness, port, observations)
    }

    @Test("records larger than the plaintext ring arrive whole, echoed through the transport", arguments: allBackends)
    func plaintextHeldInTheTransport(backend: EventLoop.BackendChoice) throws {
        let (harness, port, handler) = try start(backend)
        let client = try TestClient(port: port)
        let payload = Pattern.bytes(300_000)
        var wire: [UInt8] = []
        var offset = 0
        while offset < payload.count {
            let count = min(3000, payload.count - offset)
            wire += XorTransport.encode(Array(payload[offset..<offset + count]))
            offset += count
        }
        wire += [0, 0]  // close_notify
        try client.send(wire)
        let received = try client.receiveAll()
        let decoded = try #require(XorTransport.decode(received))
        let intact = decoded.plaintext == payload.flatMap { [$0, $0] }
        #expect(intact, "\(decoded.plaintext.count) of \(2 * payload.count) bytes echoed")
        #expect(decoded.records.last == [], "the server's close_notify comes last")
        #expect(try harness.waitUntil { _ in handler.closes.get().count == 1 })
        #expect(handler.eofs.get() == 1)
        #expect(handler.heldPlaintext.get() > 0, "some plaintext waited in the transport for ring space")
    }

    @Test("a transport installed after a cleartext preamble gets the bytes received behind it, and every later byte once",
          arguments: allBackends)
    func transportAfterPreamble(backend: EventLoop.BackendChoice) throws {
        let harness = try LoopHarness(backend: backend) { $0.receiveRingSize = 4096 }
        defer { withExtendedLifetime(harness) {} }
        let observations = TransportObservations()
        let port = try harness.onLoop { loop in
            try loop.listen(host: "127.0.0.1", port: 0) { $0.handler = PreambleThenTransport(observations) }.port
        }
        for together in [true, false] {
            let client = try TestClient(port: port)
            client.setReceiveTimeout(seconds: 5)  // a lost echo fails the test instead of hanging it
            let first = XorTransport.encode(Pattern.bytes(500))
            // The preamble with the first record in one segment, or alone.
            try client.send(Array("HELLO\n".utf8) + (together ? first : []))
            if !together {
                usleep(20_000)
                try client.send(first)
            }
            // Then records one at a time, each sent once its echo is back:
            // a byte received twice or lost would garble the echo.
            var expected: [UInt8] = Pattern.bytes(500).flatMap { [$0, $0] }
            var echoed: [UInt8] = []
            for round in 0..<20 {
                while (XorTransport.decode(echoed)?.plaintext.count ?? 0) < expected.count {
                    var buffer = [UInt8](repeating: 0, count: 65_536)
                    let count = Glibc.recv(client.fd, &buffer, buffer.count, 0)
                    guard count > 0 else { throw SystemError.last("recv: echo \(round) incomplete") }
                    echoed += buffer[0..<count]
                }
                let payload = Pattern.bytes(100 + round)
                expected += payload.flatMap { [$0, $0] }
                try client.send(XorTransport.encode(payload))
            }
            try client.send([0, 0])
            echoed += try client.receiveAll()
            let decoded = try #require(XorTransport.decode(echoed))
            #expect(decoded.plaintext == expected, "together: \(together)")
        }
        #expect(try harness.waitUntil { _ in observations.closes.get().count == 2 })
    }

    @Test("plaintext held in the transport is delivered without waiting for more wire bytes", arguments: allBackends)
    func heldPlaintextIsDeliveredWithoutMoreInput(backend: EventLoop.BackendChoice) throws {
        let (harness, port, handler) = try start(backend)
        defer { withExtendedLifetime(harness) {} }
        let client = try TestClient(port: port)
        client.setReceiveTimeout(seconds: 5)
        // One record whose 6000 plaintext bytes exceed the 4096-byte ring;
        // nothing follows it until its echo is back.
        let payload = Pattern.bytes(3000)
        try client.send(XorTransport.encode(payload))
        var echoed: [UInt8] = []
        while (XorTransport.decode(echoed)?.plaintext.count ?? 0) < 6000 {
            let more = try client.receive(exactly: 1)  // throws after 5 s without a byte
            guard !more.isEmpty else { break }
            echoed += more
        }
        let intact = XorTransport.decode(echoed)?.plaintext == payload.flatMap { [$0, $0] }
        #expect(intact)
        #expect(handler.heldPlaintext.get() > 0)
    }

    @Test("a failing transport sends its alert, then closes with .transportFailed", arguments: allBackends)
    func transportFailure(backend: EventLoop.BackendChoice) throws {
        let (harness, port, handler) = try start(backend)
        let client = try TestClient(port: port)
        try client.send(XorTransport.encode(Array("hi".utf8)))
        #expect(try client.receive(exactly: 6) == XorTransport.encode(Array("hhii".utf8)))
        try client.send(XorTransport.encode([0xFF, 1, 2]))
        let decoded = try #require(XorTransport.decode(try client.receiveAll()))
        #expect(decoded.records == [[0xEE]])
        #expect(try harness.waitUntil { _ in handler.closes.get() == [.transportFailed("bad record")] })
    }
}
