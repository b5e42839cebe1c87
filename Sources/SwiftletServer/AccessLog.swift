import CSwiftletSystem
import Glibc
import SwiftletHTTP
import SwiftletLoop

/// How access log lines look.
public enum AccessLogFormat: String, Sendable, CaseIterable {
    /// Combined log format plus protocol, stream id and duration.
    case combined
    /// One JSON object per line (see `AccessLogHandler`).
    case json
}

/// Where access log lines go.
public enum AccessLogDestination: Sendable, Equatable {
    case off
    case standardOutput
    case file(String)
}

/// Writes access log lines on its own thread, so a slow disk never blocks
/// a loop. Loops hand it whole buffers; `reopen()` (on SIGUSR1) reopens the
/// file for log rotation.
public final class AccessLogWriter: @unchecked Sendable {  // state behind a Locked value and a semaphore
    private let destination: AccessLogDestination
    private let pending = Locked<(chunks: [[UInt8]], reopen: Bool, stop: Bool)>(([], false, false))
    private let semaphore: UnsafeMutablePointer<sem_t>
    private var fd: Int32 = -1  // writer thread only (and init)
    private var thread = pthread_t()

    /// Opens the destination (so a bad path fails at start-up) and starts the writer.
    public init(destination: AccessLogDestination) throws {
        self.destination = destination
        semaphore = .allocate(capacity: 1)
        sem_init(semaphore, 0, 0)
        fd = try Self.open(destination)
        let context = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { raw in
            let writer = Unmanaged<AccessLogWriter>.fromOpaque(raw!).takeRetainedValue()
            swiftlet_set_thread_name("swiftlet-log")
            writer.run()
            return nil
        }, context)
    }

    static func open(_ destination: AccessLogDestination) throws -> Int32 {
        switch destination {
        case .off, .standardOutput: return STDOUT_FILENO
        case .file(let path):
            let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw SystemError.last("open access log \(path)") }
            return fd
        }
    }

    func submit(_ chunk: [UInt8]) {
        pending.withLock { $0.chunks.append(chunk) }
        sem_post(semaphore)
    }

    /// Reopens the file (after logrotate moved it).
    public func reopen() {
        pending.withLock { $0.reopen = true }
        sem_post(semaphore)
    }

    /// Writes what is queued and stops the thread.
    public func close() {
        pending.withLock { $0.stop = true }
        sem_post(semaphore)
        pthread_join(thread, nil)
    }

    private func run() {
        while true {
            while sem_wait(semaphore) != 0 && errno == EINTR {}
            let (chunks, reopen, stop) = pending.withLock { state -> ([[UInt8]], Bool, Bool) in
                defer { state.chunks.removeAll(); state.reopen = false }
                return (state.chunks, state.reopen, state.stop)
            }
            for chunk in chunks {
                chunk.withUnsafeBytes { bytes in
                    var offset = 0
                    while offset < bytes.count {
                        let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                        if n <= 0 { if errno == EINTR { continue }; break }
                        offset += n
                    }
                }
            }
            if reopen, case .file = destination, let fresh = try? Self.open(destination) {
                Glibc.close(fd)
                fd = fresh
            }
            if stop {
                if case .file = destination { Glibc.close(fd) }
                return
            }
        }
    }
}

/// Wraps a handler and logs every finished exchange, in combined log
/// format plus protocol, stream id and duration:
///
///     127.0.0.1 - - [21/Nov/2026:20:13:21 +0000] "GET /a.css HTTP/2.0" 200 1234 "-" "curl/7.88.1" h2 3 0.000211
///
/// or as JSON lines (`AccessLogFormat.json`), one object per exchange:
///
///     {"time":"2026-11-21T20:13:21.123Z","remote":"127.0.0.1","protocol":"h2","method":"GET",
///      "path":"/a.css","status":200,"bytes":1234,"duration":0.000211,"stream":3,
///      "tls_version":"TLSv1.3","tls_cipher":"TLS_AES_128_GCM_SHA256","user_agent":"curl/7.88.1","referer":null}
///
/// (on one line). Strings are JSON-escaped; bytes that are not UTF-8 become
/// `\u00XX`. Absent values are `null`.
///
public final class AccessLogHandler: HTTPHandler {
    let inner: any HTTPHandler
    let writer: AccessLogWriter
    let loop: EventLoop
    private var buffer: [UInt8] = []
    private var flushTimer: TimerID?
    private var timeSecond = -1
    private var timeText = [UInt8]()
    let format: AccessLogFormat

    /// Proxies whose `x-forwarded-for` names the client logged.
    let trustedProxies: TrustedProxies

    public init(wrapping inner: any HTTPHandler, writer: AccessLogWriter, loop: EventLoop, format: AccessLogFormat = .combined,
                trustedProxies: TrustedProxies = TrustedProxies()) {
        self.inner = inner
        self.writer = writer
        self.loop = loop
        self.format = format
        self.trustedProxies = trustedProxies
        buffer.reserveCapacity(64 * 1024)
        // Lines of the last 100 ms (and of the exchanges the close ends)
        // are handed over when the loop closes, before the writer stops.
        loop.whenClosed { [weak self] in self?.flush() }
    }

    public func exchangeDidStart(_ exchange: any HTTPExchange) { inner.exchangeDidStart(exchange) }
    public func exchange(_ exchange: any HTTPExchange, didReceiveBody bytes: UnsafeRawBufferPointer) { inner.exchange(exchange, didReceiveBody: bytes) }
    public func exchange(_ exchange: any HTTPExchange, didFinishRequestWith trailers: HTTPFieldList?) { inner.exchange(exchange, didFinishRequestWith: trailers) }
    public func exchangeDidBecomeWritable(_ exchange: any HTTPExchange) { inner.exchangeDidBecomeWritable(exchange) }

    public func exchangeDidClose(_ exchange: any HTTPExchange, reason: HTTPExchangeCloseReason) {
        append(exchange)
        inner.exchangeDidClose(exchange, reason: reason)
    }

    private func append(_ exchange: any HTTPExchange) {
        switch format {
        case .combined: appendCombined(exchange)
        case .json: appendJSON(exchange)
        }
        buffer.append(0x0A)
        if buffer.count >= 60 * 1024 {
            flush()
        } else if flushTimer == nil {
            flushTimer = loop.timers.schedule(at: loop.now &+ 100_000_000) { [weak self] in
                self?.flushTimer = nil
                self?.flush()
            }
        }
    }

    /// The client: the peer (or whom a PROXY header named), or whom a
    /// trusted proxy's `x-forwarded-for` names.
    private func remoteAddress(_ exchange: any HTTPExchange) -> String {
        let peer = exchange.remoteAddressDescription
        if !trustedProxies.isEmpty, let client = trustedProxies.clientAddress(peer: peer, fields: exchange.request.fields) {
            return client
        }
        return peer
    }

    private func appendCombined(_ exchange: any HTTPExchange) {
        let request = exchange.request
        buffer.append(contentsOf: remoteAddress(exchange).utf8)
        buffer.append(contentsOf: " - - [".utf8)
        appendTime()
        buffer.append(contentsOf: "] \"".utf8)
        buffer.append(contentsOf: request.methodBytes)
        buffer.append(0x20)
        for byte in request.pathBytes { buffer.append(byte == 0x22 || byte < 0x20 ? UInt8(ascii: "?") : byte) }
        let isHTTP2 = exchange.protocolName.utf8CodeUnitCount == 2
        buffer.append(contentsOf: isHTTP2 ? " HTTP/2.0\" ".utf8 : " HTTP/1.1\" ".utf8)
        appendNumber(exchange.responseStatus)
        buffer.append(0x20)
        appendNumber(exchange.responseBodyBytesSent)
        buffer.append(contentsOf: " \"".utf8)
        appendQuoted(request.fields.first("referer"))
        buffer.append(contentsOf: "\" \"".utf8)
        appendQuoted(request.fields.first("user-agent"))
        buffer.append(contentsOf: "\" ".utf8)
        buffer.append(contentsOf: UnsafeRawBufferPointer(start: exchange.protocolName.utf8Start, count: exchange.protocolName.utf8CodeUnitCount))
        buffer.append(0x20)
        appendNumber(Int(exchange.streamID))
        buffer.append(0x20)
        appendSeconds(exchange)
    }

    /// The exchange's duration in seconds, to the microsecond.
    private func appendSeconds(_ exchange: any HTTPExchange) {
        let micros = Int((loop.now &- exchange.startTime) / 1000)
        appendNumber(micros / 1_000_000)
        buffer.append(UInt8(ascii: "."))
        let fraction = micros % 1_000_000
        var divisor = 100_000
        while divisor > 0 {
            buffer.append(UInt8(ascii: "0") + UInt8(fraction / divisor % 10))
            divisor /= 10
        }
    }

    private func appendJSON(_ exchange: any HTTPExchange) {
        let request = exchange.request
        buffer.append(contentsOf: "{\"time\":\"".utf8)
        logTime.append(to: &buffer)
        buffer.append(contentsOf: "\",\"remote\":".utf8)
        appendJSONString(remoteAddress(exchange))
        buffer.append(contentsOf: ",\"protocol\":\"".utf8)
        buffer.append(contentsOf: UnsafeRawBufferPointer(start: exchange.protocolName.utf8Start, count: exchange.protocolName.utf8CodeUnitCount))
        buffer.append(contentsOf: "\",\"method\":".utf8)
        appendJSONString(request.methodBytes)
        buffer.append(contentsOf: ",\"path\":".utf8)
        appendJSONString(request.pathBytes)
        buffer.append(contentsOf: ",\"status\":".utf8)
        appendNumber(exchange.responseStatus)
        buffer.append(contentsOf: ",\"bytes\":".utf8)
        appendNumber(exchange.responseBodyBytesSent)
        buffer.append(contentsOf: ",\"duration\":".utf8)
        appendSeconds(exchange)
        buffer.append(contentsOf: ",\"stream\":".utf8)
        appendNumber(Int(exchange.streamID))
        let tls = exchange.tlsDescription
        buffer.append(contentsOf: ",\"tls_version\":".utf8)
        appendJSONString(tls?.version)
        buffer.append(contentsOf: ",\"tls_cipher\":".utf8)
        appendJSONString(tls?.cipher)
        buffer.append(contentsOf: ",\"user_agent\":".utf8)
        appendJSONString(request.fields.first("user-agent"))
        buffer.append(contentsOf: ",\"referer\":".utf8)
        appendJSONString(request.fields.first("referer"))
        buffer.append(UInt8(ascii: "}"))
    }

    private func appendJSONString(_ text: String?) {
        JSONText.append(text, to: &buffer)
    }

    private func appendJSONString(_ value: UnsafeRawBufferPointer?) {
        JSONText.append(value, to: &buffer)
    }

    private var logTime = LogTime()

    private func flush() {
        guard !buffer.isEmpty else { return }
        writer.submit(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    private func appendQuoted(_ value: UnsafeRawBufferPointer?) {
        guard let value, value.count > 0 else {
            buffer.append(UInt8(ascii: "-"))
            return
        }
        for byte in value { buffer.append(byte == 0x22 || byte == 0x5C || byte < 0x20 ? UInt8(ascii: "?") : byte) }
    }

    private func appendNumber(_ value: Int) {
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &scratch) { raw in
            let count = HTTPFieldList.formatDecimal(value, into: raw)
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[(raw.count - count)...]))
        }
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    private func appendTime() {
        var now = time_t()
        time(&now)
        if Int(now) != timeSecond {
            timeSecond = Int(now)
            var parts = tm()
            gmtime_r(&now, &parts)
            func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
            timeText = Array("\(two(parts.tm_mday))/\(Self.months[Int(parts.tm_mon)])/\(parts.tm_year + 1900):\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000".utf8)
        }
        buffer.append(contentsOf: timeText)
    }
}
