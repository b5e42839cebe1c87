import Glibc
import SwiftletHPACK
import SwiftletHTTP
import SwiftletHTTP2
import SwiftletLoop
import SwiftletTestSupport

/// A frame as the test client sees it (server → client), decoded.
enum Frame: Equatable, CustomStringConvertible {
    case data(stream: UInt32, bytes: [UInt8], endStream: Bool)
    case headers(stream: UInt32, fields: [Field], endStream: Bool)
    case rstStream(stream: UInt32, code: ErrorCode)
    case settings(ack: Bool, parameters: [Parameter])
    case ping(ack: Bool, payload: UInt64)
    case goAway(lastStreamID: UInt32, code: ErrorCode, debug: String)
    case windowUpdate(stream: UInt32, increment: Int)
    case other(type: UInt8, stream: UInt32)

    struct Field: Equatable {
        let name: String
        let value: String
        /// Sent as a never-indexed literal (RFC 7541 §6.2.3).
        var neverIndexed = false
    }
    struct Parameter: Equatable { let id: UInt16; let value: UInt32 }

    var description: String {
        switch self {
        case .data(let s, let b, let e): "DATA(\(s), \(b.count) bytes\(e ? ", END_STREAM" : ""))"
        case .headers(let s, let f, let e): "HEADERS(\(s), \(f.map { "\($0.name): \($0.value)" })\(e ? ", END_STREAM" : ""))"
        case .rstStream(let s, let c): "RST_STREAM(\(s), \(c))"
        case .settings(let a, let p): "SETTINGS(\(a ? "ACK" : p.map { "\($0.id)=\($0.value)" }.joined(separator: ",")))"
        case .ping(let a, let p): "PING(\(a ? "ACK, " : "")\(p))"
        case .goAway(let l, let c, let d): "GOAWAY(last \(l), \(c), \"\(d)\")"
        case .windowUpdate(let s, let i): "WINDOW_UPDATE(\(s), \(i))"
        case .other(let t, let s): "FRAME(type \(t), stream \(s))"
        }
    }
}

enum FrameClientError: Error { case timeout, closed, malformed(String) }

/// How a test client reaches the server: a socket to a loop, or the
/// engine itself in memory.
protocol FrameWire: AnyObject {
    func send(_ bytes: [UInt8]) throws
    /// The server's next bytes; nil at EOF; throws `timeout` when nothing
    /// more is coming for now.
    func receive() throws -> [UInt8]?
}

/// A TCP connection to a server on a loop thread.
final class SocketWire: FrameWire {
    let client: TestClient
    init(_ client: TestClient) { self.client = client }

    func send(_ bytes: [UInt8]) throws { try client.send(bytes) }

    func receive() throws -> [UInt8]? {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress!, 65536, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw FrameClientError.timeout }
                if errno == ECONNRESET { return nil }
                throw SystemError("recv", errno: errno)
            }
            return n == 0 ? nil : Array(chunk[0..<n])
        }
    }
}

/// An `HTTP2Engine` over a `MemoryTransport`, driven from the test's own
/// thread as a loop would drive it: bytes in, whole frames taken, the
/// turn's output produced; the clock follows the test's `ManualClock`.
final class MemoryWire: FrameWire {
    let transport: MemoryTransport
    let engine: HTTP2Engine
    let clock: any LoopClock
    private var unread: [UInt8] = []

    init(handler: any HTTPHandler, configuration: HTTP2Configuration, counters: HTTP2Counters, streamPool: HTTP2StreamPool,
         clock: any LoopClock) {
        self.clock = clock
        transport = MemoryTransport(now: clock.now(), bufferPool: streamPool.bufferPool)
        engine = HTTP2Engine(transport: transport, handler: handler, configuration: configuration, counters: counters,
                             streamPool: streamPool)
        engine.start()
    }

    deinit {
        // The client went away: the transport closes, as a socket would.
        if transport.isOpen { engine.transportReceivedEOF() }
        engine.transportClosed()
    }

    func send(_ bytes: [UInt8]) throws {
        unread += bytes
        turn()
    }

    /// One turn: the clock moves (timers fire), the engine reads what it can,
    /// then produces its output.
    func turn() {
        transport.advance(to: clock.now(), flushing: engine)
        while transport.isOpen && !transport.isReadingPaused && !unread.isEmpty {
            let used = unread.withUnsafeBytes { engine.receive($0) }
            unread.removeFirst(used)
            transport.flush(engine)
            if used == 0 { break }
        }
        transport.flush(engine)
    }

    func receive() throws -> [UInt8]? {
        while true {
            turn()
            let output = transport.takeOutput()
            if !output.isEmpty {
                // The peer read everything: the output is writable again (a
                // loop would say so), so a paused engine reads and a held one writes.
                engine.transportBecameWritable()
                return output
            }
            if transport.isClosed { return nil }
            // Nothing now. On a real clock, wait for the next timer (as a
            // socket read would, up to 5 s); a manual clock moves only when
            // the test moves it.
            guard !(clock is ManualClock), let deadline = transport.timers.nextDeadline(),
                  deadline <= clock.now() + 5_000_000_000 else { throw FrameClientError.timeout }
            let now = clock.now()
            if deadline > now { usleep(UInt32((deadline - now) / 1000) + 1000) }
        }
    }
}

/// The client side of protocol tests: builds the bytes a test sends (well
/// formed or deliberately not) and reads back the server's frames.
final class FrameClient {
    let wire: any FrameWire
    /// The socket, for tests of socket behaviour (socket-backed clients only).
    var socket: TestClient { (wire as! SocketWire).client }
    let encoder = HPACKEncoder()
    let decoder = HPACKDecoder(headerTableSize: 4096, limits: HPACKDecoderLimits(maximumHeaderListSize: 1 << 20))
    private var buffer: [UInt8] = []
    private var continuing: (stream: UInt32, endStream: Bool, block: [UInt8])?

    /// Connects; sends the preface and an empty SETTINGS unless told not to.
    convenience init(port: UInt16, preface: Bool = true, settings: [(SettingsParameter, UInt32)] = [], timeoutSeconds: Int = 5) throws {
        let socket = try TestClient(port: port)
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(socket.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        try self.init(wire: SocketWire(socket), preface: preface, settings: settings)
    }

    /// Talks over `wire`; sends the preface and an empty SETTINGS unless told not to.
    init(wire: any FrameWire, preface: Bool = true, settings: [(SettingsParameter, UInt32)] = []) throws {
        self.wire = wire
        if preface {
            try send(ConnectionState.preface + Self.settings(settings))
        }
    }

    // MARK: building frames

    static func frame(_ type: FrameType, flags: FrameFlags = [], stream: UInt32, payload: [UInt8] = []) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 9)
        bytes.withUnsafeMutableBytes { FrameHeader(length: payload.count, type: type, flags: flags, streamID: stream).write(to: $0.baseAddress!) }
        return bytes + payload
    }

    static func u32(_ value: UInt32) -> [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
    static func u16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

    /// A frame written by one of `FrameEncoder`'s functions (the server's own
    /// encoder), into a new array of at most `size` bytes.
    static func encoded(size: Int, _ write: (UnsafeMutableRawPointer) -> Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: size) { buffer, count in count = write(buffer.baseAddress!) }
    }

    static func settings(_ parameters: [(SettingsParameter, UInt32)]) -> [UInt8] {
        encoded(size: FrameEncoder.settingsSize(parameterCount: parameters.count)) { FrameEncoder.writeSettings(parameters, to: $0) }
    }

    static let settingsAck = encoded(size: FrameEncoder.settingsAckSize) { FrameEncoder.writeSettingsAck(to: $0) }

    static func ping(_ payload: UInt64, ack: Bool = false) -> [UInt8] {
        encoded(size: FrameEncoder.pingSize) { FrameEncoder.writePing(payload, ack: ack, to: $0) }
    }

    static func windowUpdate(stream: UInt32, increment: UInt32) -> [UInt8] {
        encoded(size: FrameEncoder.windowUpdateSize) { FrameEncoder.writeWindowUpdate(streamID: stream, increment: increment, to: $0) }
    }

    static func rstStream(stream: UInt32, code: ErrorCode) -> [UInt8] {
        encoded(size: FrameEncoder.rstStreamSize) { FrameEncoder.writeRstStream(streamID: stream, code: code, to: $0) }
    }

    static func priority(stream: UInt32, dependsOn: UInt32, weight: UInt8 = 15, exclusive: Bool = false) -> [UInt8] {
        frame(.priority, stream: stream, payload: u32(dependsOn | (exclusive ? 0x8000_0000 : 0)) + [weight])
    }

    static func data(stream: UInt32, _ bytes: [UInt8], endStream: Bool = false, padding: Int? = nil) -> [UInt8] {
        guard let padding else { return frame(.data, flags: endStream ? .endStream : [], stream: stream, payload: bytes) }
        var flags: FrameFlags = .padded
        if endStream { flags.insert(.endStream) }
        return frame(.data, flags: flags, stream: stream, payload: [UInt8(padding)] + bytes + [UInt8](repeating: 0, count: padding))
    }

    static func goAway(lastStreamID: UInt32, code: ErrorCode) -> [UInt8] {
        encoded(size: FrameEncoder.goAwayFixedSize) {
            FrameEncoder.writeGoAway(lastStreamID: lastStreamID, code: code, debugLength: 0, to: $0)
        }
    }

    /// An HPACK block for `fields` (encoded with this client's encoder).
    func block(_ fields: [(String, String)], indexing: HPACKIndexing = .incremental) -> [UInt8] {
        var output = HPACKOutput()
        encoder.beginBlock(into: &output)
        for (name, value) in fields {
            Array(name.utf8).withUnsafeBytes { n in
                Array(value.utf8).withUnsafeBytes { v in encoder.encode(name: n, value: v, indexing: indexing, into: &output) }
            }
        }
        return Array(output.bytes)
    }

    /// A HEADERS frame carrying `block` (or `fields`).
    func headers(stream: UInt32, _ fields: [(String, String)] = [], block: [UInt8]? = nil, endStream: Bool = false,
                 endHeaders: Bool = true, padding: Int? = nil, dependsOn: UInt32? = nil) -> [UInt8] {
        var payload = block ?? self.block(fields)
        var flags: FrameFlags = []
        if endStream { flags.insert(.endStream) }
        if endHeaders { flags.insert(.endHeaders) }
        if let dependsOn {
            flags.insert(.priority)
            payload = Self.u32(dependsOn) + [15] + payload
        }
        if let padding {
            flags.insert(.padded)
            payload = [UInt8(padding)] + payload + [UInt8](repeating: 0, count: padding)
        }
        return Self.frame(.headers, flags: flags, stream: stream, payload: payload)
    }

    static func continuation(stream: UInt32, _ fragment: [UInt8], endHeaders: Bool) -> [UInt8] {
        frame(.continuation, flags: endHeaders ? .endHeaders : [], stream: stream, payload: fragment)
    }

    /// A GET request's fields.
    static func get(_ path: String, extra: [(String, String)] = []) -> [(String, String)] {
        [(":method", "GET"), (":scheme", "http"), (":path", path), (":authority", "localhost")] + extra
    }

    static func post(_ path: String, extra: [(String, String)] = []) -> [(String, String)] {
        [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost")] + extra
    }

    // MARK: sending and receiving

    func send(_ bytes: [UInt8]) throws { try wire.send(bytes) }

    /// Completes the SETTINGS exchange: reads the server's SETTINGS (and
    /// WINDOW_UPDATE), acknowledges it, and waits for our ACK.
    func handshake() throws {
        var sawSettings = false
        var sawAck = false
        while !(sawSettings && sawAck) {
            guard let frame = try readFrame() else { throw FrameClientError.closed }
            switch frame {
            case .settings(false, _):
                sawSettings = true
                try send(Self.settingsAck)
            case .settings(true, _):
                sawAck = true
            default:
                continue
            }
        }
    }

    /// The next frame, or nil at EOF. Throws on timeout.
    func readFrame() throws -> Frame? {
        while true {
            // Split as the server splits (a frame's length field allows at most 2^24-1).
            let next = buffer.withUnsafeBytes { bytes -> (FrameHeader, [UInt8], Int)? in
                guard case .frame(let header, let payload, let end) = FrameDecoder.split(bytes, at: 0, maxFrameSize: 1 << 24) else { return nil }
                return (header, Array(payload), end)
            }
            if let (header, payload, end) = next {
                buffer.removeFirst(end)
                if let frame = try decode(header, payload) { return frame }
                continue
            }
            guard let bytes = try wire.receive() else { return nil }
            buffer += bytes
        }
    }

    /// Decodes a server frame with the server's own `FrameDecoder` (a frame
    /// it rejects is reported as malformed); header blocks are joined and
    /// decoded when complete (nil until then).
    private func decode(_ header: FrameHeader, _ payload: [UInt8]) throws -> Frame? {
        try payload.withUnsafeBytes { bytes in
            switch FrameDecoder.decode(header, bytes) {
            case .streamError(_, let rejection), .connectionError(let rejection):
                throw FrameClientError.malformed("server sent a malformed frame: \(rejection)")
            case .frame(let frame):
                return try owned(frame)
            }
        }
    }

    /// The test's owned copy of a decoded frame.
    private func owned(_ frame: InboundFrame) throws -> Frame? {
        switch frame {
        case .data(let stream, let data, _, let endStream):
            return .data(stream: stream, bytes: Array(data), endStream: endStream)
        case .headers(let stream, let fragment, let endStream, let endHeaders, _):
            continuing = (stream, endStream, Array(fragment))
            return endHeaders ? try completeHeaderBlock() : nil
        case .continuation(_, let fragment, let endHeaders):
            continuing?.block += fragment
            return endHeaders ? try completeHeaderBlock() : nil
        case .rstStream(let stream, let code):
            return .rstStream(stream: stream, code: code)
        case .settings(let entries):
            return .settings(ack: false, parameters: entries.map { Frame.Parameter(id: $0.0.rawValue, value: $0.1) })
        case .settingsAck:
            return .settings(ack: true, parameters: [])
        case .ping(let opaque, let ack):
            return .ping(ack: ack, payload: opaque)
        case .goAway(let last, let code, let debug):
            return .goAway(lastStreamID: last, code: code, debug: String(decoding: debug, as: UTF8.self))
        case .windowUpdate(let stream, let increment):
            return .windowUpdate(stream: stream, increment: increment)
        case .priority(let stream, _):
            return .other(type: FrameType.priority.rawValue, stream: stream)
        case .pushPromise(let stream):
            return .other(type: FrameType.pushPromise.rawValue, stream: stream)
        case .priorityUpdate:
            return .other(type: FrameType.priorityUpdate.rawValue, stream: 0)
        case .unknown(let type):
            return .other(type: type.rawValue, stream: 0)
        }
    }

    private func completeHeaderBlock() throws -> Frame? {
        guard let block = continuing else { throw FrameClientError.malformed("CONTINUATION without HEADERS") }
        continuing = nil
        var sink = Sink()
        try block.block.withUnsafeBytes { try decoder.decode($0, into: &sink) }
        return .headers(stream: block.stream, fields: sink.fields, endStream: block.endStream)
    }

    struct Sink: HPACKSink {
        var fields: [Frame.Field] = []
        mutating func field(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, neverIndexed: Bool) {
            fields.append(Frame.Field(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self),
                                      neverIndexed: neverIndexed))
        }
    }

    /// Reads until a frame matches `predicate`; returns it and everything skipped.
    func read(until predicate: (Frame) -> Bool) throws -> (Frame, skipped: [Frame]) {
        var skipped: [Frame] = []
        while let frame = try readFrame() {
            if predicate(frame) { return (frame, skipped) }
            skipped.append(frame)
        }
        throw FrameClientError.closed
    }

    /// The connection error the server reports: its GOAWAY, then EOF.
    func expectGoAway() throws -> (code: ErrorCode, lastStreamID: UInt32, debug: String) {
        let (frame, _) = try read { if case .goAway = $0 { true } else { false } }
        guard case .goAway(let last, let code, let debug) = frame else { throw FrameClientError.malformed("\(frame)") }
        return (code, last, debug)
    }

    /// Reads to EOF (true) or timeout (false).
    func readsToEOF() -> Bool {
        while true {
            do {
                if try readFrame() == nil { return true }
            } catch {
                return false
            }
        }
    }

    /// The stream error the server reports for `stream`.
    func expectReset(stream: UInt32) throws -> ErrorCode {
        let (frame, _) = try read {
            if case .rstStream(stream, _) = $0 { return true }
            if case .goAway = $0 { return true }
            return false
        }
        if case .rstStream(_, let code) = frame { return code }
        throw FrameClientError.malformed("expected RST_STREAM on \(stream), got \(frame)")
    }

    /// Reads a whole response on `stream`: status, fields, body, trailers.
    func response(stream: UInt32) throws -> (status: String, fields: [Frame.Field], body: [UInt8], trailers: [Frame.Field]) {
        var status = ""
        var fields: [Frame.Field] = []
        var body: [UInt8] = []
        var trailers: [Frame.Field] = []
        var sawHead = false
        while let frame = try readFrame() {
            switch frame {
            case .headers(stream, let decoded, let end):
                if !sawHead {
                    sawHead = true
                    status = decoded.first { $0.name == ":status" }?.value ?? ""
                    fields = decoded.filter { $0.name != ":status" }
                } else {
                    trailers = decoded
                }
                if end { return (status, fields, body, trailers) }
            case .data(stream, let bytes, let end):
                body += bytes
                if end { return (status, fields, body, trailers) }
            case .rstStream(stream, let code):
                throw FrameClientError.malformed("stream \(stream) reset: \(code)")
            case .goAway(_, let code, let debug):
                throw FrameClientError.malformed("GOAWAY \(code) \(debug)")
            default:
                continue
            }
        }
        throw FrameClientError.closed
    }
}
