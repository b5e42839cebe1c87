import CoreMetrics
import Prometheus
import SwiftletHTTP
import SwiftletLoop
import SwiftletServer
import SwiftletStatic

/// `--metrics-listen`: the server's swift-metrics go to a Prometheus
/// registry (swift-server/swift-prometheus), served as text at `/metrics`
/// by a small server of its own (one loop, its own port), so a scrape never
/// waits behind the site's traffic and the site's port never serves it.
struct MetricsEndpoint {
    let registry = PrometheusCollectorRegistry()
    let server: Server

    /// The factory the site's server reports to.
    var factory: PrometheusMetricsFactory { PrometheusMetricsFactory(registry: registry) }

    /// `compression`: the site's compressed-file cache, reported at each scrape.
    init(host: String, port: UInt16, backend: EventLoop.BackendChoice, compression: CompressionCache?) throws {
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.loops = 1
        configuration.backend = backend
        let registry = self.registry
        server = try Server(configuration: configuration) { _ in
            MetricsPage(registry: registry, compression: compression.map {
                CompressionMetrics(cache: $0, factory: PrometheusMetricsFactory(registry: registry))
            })
        }
    }
}

/// GET /metrics: the registry in Prometheus text format 0.0.4; 404 elsewhere.
final class MetricsPage: HTTPHandler {
    let registry: PrometheusCollectorRegistry
    let compression: CompressionMetrics?
    private var text: [UInt8] = []

    init(registry: PrometheusCollectorRegistry, compression: CompressionMetrics?) {
        self.registry = registry
        self.compression = compression
    }

    func exchangeDidStart(_ exchange: any HTTPExchange) {
        guard exchange.request.pathBytes.elementsEqual("/metrics".utf8) else {
            exchange.responseFields.append("content-length", "0")
            exchange.sendHead(status: 404, endOfStream: true)
            return
        }
        text.removeAll(keepingCapacity: true)
        compression?.report()
        registry.emit(into: &text)
        exchange.responseFields.append("content-type", "text/plain; version=0.0.4; charset=utf-8")
        exchange.responseFields.append("content-length", integer: text.count)
        let head = exchange.request.methodIs("HEAD")
        exchange.sendHead(status: 200, endOfStream: head || text.isEmpty)
        if !head && !text.isEmpty {
            text.withUnsafeBytes { exchange.sendBody(copying: $0, endOfStream: true) }
        }
    }
}

/// `swiftlet_file_cache_hits_total` and `swiftlet_file_cache_misses_total`:
/// one loop's file-cache lookups (a hit is a fresh entry or one revalidated
/// unchanged; a miss opened the file), handed to the registry once a second
/// and when the loop closes. Loop-confined.
final class FileCacheMetrics {
    let handler: StaticFileHandler
    let loop: EventLoop
    let hits: CoreMetrics.Counter
    let misses: CoreMetrics.Counter
    private var reportedHits = 0
    private var reportedMisses = 0

    init(handler: StaticFileHandler, loop: EventLoop, factory: any MetricsFactory) {
        self.handler = handler
        self.loop = loop
        hits = CoreMetrics.Counter(label: "swiftlet_file_cache_hits_total", factory: factory)
        misses = CoreMetrics.Counter(label: "swiftlet_file_cache_misses_total", factory: factory)
        schedule()
        loop.whenClosed { [self] in report() }
    }

    private func schedule() {
        loop.timers.schedule(at: loop.now &+ 1_000_000_000) { [self] in
            report()
            schedule()
        }
    }

    private func report() {
        if handler.fileCacheHits > reportedHits {
            hits.increment(by: Int64(handler.fileCacheHits - reportedHits))
            reportedHits = handler.fileCacheHits
        }
        if handler.fileCacheMisses > reportedMisses {
            misses.increment(by: Int64(handler.fileCacheMisses - reportedMisses))
            reportedMisses = handler.fileCacheMisses
        }
    }
}

/// The compressed-file cache (shared by the site's loops), read at each
/// scrape: `swiftlet_compressions_total{outcome}` (compressed,
/// incompressible, failed), `swiftlet_compression_cache_hits_total`,
/// `swiftlet_compression_cache_evictions_total`, and the gauges
/// `swiftlet_compression_cache_bytes` and `swiftlet_compression_cache_entries`.
/// Confined to the metrics loop.
final class CompressionMetrics {
    let cache: CompressionCache
    let compressed, incompressible, failed, hits, evictions: CoreMetrics.Counter
    let bytes, entries: CoreMetrics.Gauge
    private var reported = CompressionCache.Statistics()

    init(cache: CompressionCache, factory: any MetricsFactory) {
        self.cache = cache
        func outcome(_ name: String) -> CoreMetrics.Counter {
            CoreMetrics.Counter(label: "swiftlet_compressions_total", dimensions: [("outcome", name)], factory: factory)
        }
        compressed = outcome("compressed")
        incompressible = outcome("incompressible")
        failed = outcome("failed")
        hits = CoreMetrics.Counter(label: "swiftlet_compression_cache_hits_total", factory: factory)
        evictions = CoreMetrics.Counter(label: "swiftlet_compression_cache_evictions_total", factory: factory)
        bytes = CoreMetrics.Gauge(label: "swiftlet_compression_cache_bytes", factory: factory)
        entries = CoreMetrics.Gauge(label: "swiftlet_compression_cache_entries", factory: factory)
        report()
    }

    func report() {
        let now = cache.statistics
        compressed.increment(by: Int64(now.compressions - reported.compressions))
        incompressible.increment(by: Int64(now.incompressible - reported.incompressible))
        failed.increment(by: Int64(now.failures - reported.failures))
        hits.increment(by: Int64(now.hits - reported.hits))
        evictions.increment(by: Int64(now.evictions - reported.evictions))
        bytes.record(now.bytes)
        entries.record(now.entries)
        reported = now
    }
}
