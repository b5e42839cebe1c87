import CoreMetrics
import SwiftletHTTP
import SwiftletHTTP1
import SwiftletLoop

/// What a server reports through swift-metrics, so any backend works
/// (Prometheus, StatsD, OpenTelemetry): labels start with `swiftlet_`.
///
/// | label | kind | dimensions |
/// | --- | --- | --- |
/// | `swiftlet_connections_accepted_total` | counter | |
/// | `swiftlet_connections_closed_total` | counter | |
/// | `swiftlet_connections_open` | meter | `state`: `h2`, `http/1.1`, `handshake` (TLS handshake or first bytes) |
/// | `swiftlet_streams_open` | meter | exchanges (HTTP/2 streams, HTTP/1.1 requests) in progress |
/// | `swiftlet_requests_total` | counter | `status`: `1xx`…`5xx`, `reset` (no final status); `method`: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, CONNECT, `other` |
/// | `swiftlet_bytes_received_total`, `swiftlet_bytes_sent_total` | counter | wire bytes |
/// | `swiftlet_rejections_total` | counter | `token`: the stable rejection token |
/// | `swiftlet_tls_handshakes_total` | counter | `result`: `ok`, `failed`, `timeout` |
/// | `swiftlet_request_duration_seconds` | timer | from request head to close |
/// | `swiftlet_loop_turns_total` | counter | turns of the event loops |
/// | `swiftlet_loop_busy_seconds_total` | counter | time the loops spent in turns after their wait returned (busy ÷ wall time is the load) |
///
/// Cost: each loop counts in plain integers and hands the totals to the
/// backend every `ServerConfiguration.metricsInterval` and when it closes;
/// only the duration timer is recorded per request. With no backend
/// bootstrapped nothing is wrapped or scheduled at all.
final class ServerMetrics: Sendable {
    let factory: any MetricsFactory
    let accepted: Counter
    let closed: Counter
    /// Open connections by state: h2, http/1.1, handshake.
    let open: [Meter]
    let streamsOpen: Meter
    /// Requests by status class (1xx…5xx, then `reset`) and method
    /// (`methods`, then `other`): `requests[status * 9 + method]`.
    let requests: [Counter]
    static let methods: [StaticString] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT"]
    let bytesReceived: Counter
    let bytesSent: Counter
    let tlsOK: Counter
    let tlsFailed: Counter
    let tlsTimeout: Counter
    let duration: Timer
    let turns: Counter
    let busy: FloatingPointCounter

    init(factory: any MetricsFactory) {
        self.factory = factory
        accepted = Counter(label: "swiftlet_connections_accepted_total", factory: factory)
        closed = Counter(label: "swiftlet_connections_closed_total", factory: factory)
        open = ["h2", "http/1.1", "handshake"].map {
            Meter(label: "swiftlet_connections_open", dimensions: [("state", $0)], factory: factory)
        }
        streamsOpen = Meter(label: "swiftlet_streams_open", factory: factory)
        let methodNames = Self.methods.map { "\($0)" } + ["other"]
        requests = ["1xx", "2xx", "3xx", "4xx", "5xx", "reset"].flatMap { status in
            methodNames.map { method in
                Counter(label: "swiftlet_requests_total", dimensions: [("status", status), ("method", method)], factory: factory)
            }
        }
        bytesReceived = Counter(label: "swiftlet_bytes_received_total", factory: factory)
        bytesSent = Counter(label: "swiftlet_bytes_sent_total", factory: factory)
        tlsOK = Counter(label: "swiftlet_tls_handshakes_total", dimensions: [("result", "ok")], factory: factory)
        tlsFailed = Counter(label: "swiftlet_tls_handshakes_total", dimensions: [("result", "failed")], factory: factory)
        tlsTimeout = Counter(label: "swiftlet_tls_handshakes_total", dimensions: [("result", "timeout")], factory: factory)
        duration = Timer(label: "swiftlet_request_duration_seconds", factory: factory)
        turns = Counter(label: "swiftlet_loop_turns_total", factory: factory)
        busy = FloatingPointCounter(label: "swiftlet_loop_busy_seconds_total", factory: factory)
    }

    /// The factory to report to: the one configured, else the one
    /// bootstrapped with `MetricsSystem`; nil when that is the no-op one.
    static func resolve(_ configured: (any MetricsFactory)?) -> ServerMetrics? {
        let factory = configured ?? MetricsSystem.factory
        if factory is NOOPMetricsHandler { return nil }
        return ServerMetrics(factory: factory)
    }

    func rejections(_ token: String) -> Counter {
        Counter(label: "swiftlet_rejections_total", dimensions: [("token", token)], factory: factory)
    }
}

/// One loop's counts, handed to `ServerMetrics` in batches. Loop-confined.
final class LoopMetrics {
    let metrics: ServerMetrics
    let loop: EventLoop
    unowned(unsafe) var context: LoopContext!
    var accepted = 0
    var tlsHandshakes = 0
    var requests = [Int](repeating: 0, count: 6 * 9)
    var streamsStarted = 0
    var streamsClosed = 0

    // What the backend was told so far.
    private var reportedOpen = 0
    private var reportedOpenByState = [0, 0, 0]
    private var reportedStreams = 0
    private var reportedBytesReceived: UInt64 = 0
    private var reportedTurns: UInt64 = 0
    private var reportedBusy: Duration = .zero
    private var reportedBytesSent: UInt64 = 0
    private var reportedRejections: [String: Int] = [:]
    private var rejectionCounters: [String: Counter] = [:]
    private let interval: UInt64

    init(metrics: ServerMetrics, loop: EventLoop, interval: Duration) {
        self.metrics = metrics
        self.loop = loop
        self.interval = max(interval.nanoseconds, 1_000_000)
        scheduleReport()
        loop.whenClosed { [unowned self] in report() }
    }

    private func scheduleReport() {
        loop.timers.schedule(at: loop.now &+ interval) { [unowned self] in
            report()
            scheduleReport()
        }
    }

    /// Moves a meter shared by every loop by this loop's change.
    private static func move(_ meter: Meter, by delta: Int) {
        if delta > 0 { meter.increment(by: Double(delta)) } else { meter.decrement(by: Double(-delta)) }
    }

    /// Hands the counts gathered since the last report to the backend.
    func report() {
        if accepted > 0 { metrics.accepted.increment(by: Int64(accepted)) }
        let open = context.served.count + context.selecting
        let closedNow = accepted - (open - reportedOpen)
        if closedNow > 0 { metrics.closed.increment(by: Int64(closedNow)) }
        reportedOpen = open
        accepted = 0
        var byState = [0, 0, context.selecting]
        for connection in context.served.values { byState[connection is HTTP1Connection ? 1 : 0] += 1 }
        for state in 0..<3 where byState[state] != reportedOpenByState[state] {
            Self.move(metrics.open[state], by: byState[state] - reportedOpenByState[state])
            reportedOpenByState[state] = byState[state]
        }
        let streams = streamsStarted - streamsClosed
        if streams != reportedStreams {
            Self.move(metrics.streamsOpen, by: streams - reportedStreams)
            reportedStreams = streams
        }
        for (index, count) in requests.enumerated() where count > 0 {
            metrics.requests[index].increment(by: Int64(count))
            requests[index] = 0
        }
        if loop.bytesReceived > reportedBytesReceived {
            metrics.bytesReceived.increment(by: Int64(loop.bytesReceived - reportedBytesReceived))
            reportedBytesReceived = loop.bytesReceived
        }
        if loop.bytesSent > reportedBytesSent {
            metrics.bytesSent.increment(by: Int64(loop.bytesSent - reportedBytesSent))
            reportedBytesSent = loop.bytesSent
        }
        if loop.turn > reportedTurns {
            metrics.turns.increment(by: Int64(loop.turn - reportedTurns))
            reportedTurns = loop.turn
        }
        let busy = loop.busyTime
        if busy > reportedBusy {
            let delta = busy - reportedBusy
            metrics.busy.increment(by: Double(delta.components.seconds) + Double(delta.components.attoseconds) / 1e18)
            reportedBusy = busy
        }
        if tlsHandshakes > 0 {
            metrics.tlsOK.increment(by: Int64(tlsHandshakes))
            tlsHandshakes = 0
        }
        let rejections = context.counters.rejections
            .merging(context.http1Counters.rejections, uniquingKeysWith: +)
            .merging(context.transportRejections, uniquingKeysWith: +)
        for (token, count) in rejections where count != reportedRejections[token] {
            let delta = count - reportedRejections[token, default: 0]
            reportedRejections[token] = count
            switch token {
            case "tls_handshake_failed": metrics.tlsFailed.increment(by: Int64(delta))
            case "tls_handshake_timeout": metrics.tlsTimeout.increment(by: Int64(delta))
            default: break
            }
            let counter = rejectionCounters[token] ?? metrics.rejections(token)
            rejectionCounters[token] = counter
            counter.increment(by: Int64(delta))
        }
    }
}

/// Counts a loop's exchanges for `LoopMetrics` around the application's handler.
final class MetricsHandler: HTTPHandler {
    let inner: any HTTPHandler
    let counts: LoopMetrics

    init(wrapping inner: any HTTPHandler, counts: LoopMetrics) {
        self.inner = inner
        self.counts = counts
    }

    func exchangeDidStart(_ exchange: any HTTPExchange) {
        counts.streamsStarted += 1
        inner.exchangeDidStart(exchange)
    }

    func exchange(_ exchange: any HTTPExchange, didReceiveBody bytes: UnsafeRawBufferPointer) {
        inner.exchange(exchange, didReceiveBody: bytes)
    }

    func exchange(_ exchange: any HTTPExchange, didFinishRequestWith trailers: HTTPFieldList?) {
        inner.exchange(exchange, didFinishRequestWith: trailers)
    }

    func exchangeDidBecomeWritable(_ exchange: any HTTPExchange) { inner.exchangeDidBecomeWritable(exchange) }

    func exchangeDidClose(_ exchange: any HTTPExchange, reason: HTTPExchangeCloseReason) {
        counts.streamsClosed += 1
        let status = exchange.responseStatus
        // By the final status's class; an exchange that ended without one
        // completing (reset, cancelled, connection gone) counts as `reset`.
        let statusIndex = reason == .completed && status >= 100 && status < 600 ? status / 100 - 1 : 5
        let method = exchange.request.methodBytes
        let methodIndex = ServerMetrics.methods.firstIndex { HTTPFieldList.equal(method, HTTPFieldList.span($0)) } ?? 8
        counts.requests[statusIndex * 9 + methodIndex] += 1
        counts.metrics.duration.recordNanoseconds(Int64(truncatingIfNeeded: counts.loop.now &- exchange.startTime))
        inner.exchangeDidClose(exchange, reason: reason)
    }
}
