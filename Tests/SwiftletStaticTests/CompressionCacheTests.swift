import Glibc
import SwiftletLoop
@testable import SwiftletStatic
import Testing

@Suite("CompressionCache: each file version compressed once, bounded, least recently used out")
struct CompressionCacheTests {
    static func key(inode: UInt64, coding: ContentCoding = .brotli, modified: Int = 1) -> CompressionKey {
        CompressionKey(device: 1, inode: inode, size: 1000, modified: modified, modifiedNanoseconds: 0, coding: coding, level: 5)
    }

    /// A body of `count` bytes (what it holds does not matter to the cache).
    static func body(_ count: Int) -> Compressor.Outcome {
        let bytes = UnsafeMutableRawBufferPointer(start: malloc(count), count: count)
        bytes.initializeMemory(as: UInt8.self, repeating: 0x61)
        return .compressed(CompressedBody(taking: UnsafeRawBufferPointer(bytes), coding: .brotli, level: 5))
    }

    static func isReady(_ lookup: CompressionCache.Lookup, count: Int) -> Bool {
        if case .ready(let body) = lookup { return body.count == count }
        return false
    }

    static func isAbsent(_ lookup: CompressionCache.Lookup) -> Bool {
        if case .absent = lookup { return true }
        return false
    }

    @Test("the first request claims the work; others wait and resume on their loop with the body")
    func claimAndWait() throws {
        let loop = try EventLoop()
        let cache = CompressionCache(maximumBytes: 1 << 20)
        let resumed = Locked<[Int]>([])
        func waiter(_ id: Int) -> CompressionCache.Waiter {
            CompressionCache.Waiter(loop: loop) { body in resumed.withLock { $0.append(body == nil ? -id : id) } }
        }
        guard case .claimed = cache.claim(Self.key(inode: 1), waiter: waiter(1)) else { Issue.record("not claimed"); return }
        guard case .waiting = cache.claim(Self.key(inode: 1), waiter: waiter(2)) else { Issue.record("not waiting"); return }
        guard case .claimed = cache.claim(Self.key(inode: 1, coding: .gzip), waiter: waiter(3)) else {
            Issue.record("another coding is another key")
            return
        }
        #expect(Self.isAbsent(cache.lookup(Self.key(inode: 1))), "being compressed is not stored yet")
        #expect(cache.pendingCount == 2)

        cache.finish(Self.key(inode: 1), outcome: Self.body(300))
        #expect(resumed.withLock { $0 }.isEmpty, "waiters resume on the loop, not inside finish")
        for _ in 0..<3 { try loop.runTurn(maximumWait: 0) }
        #expect(resumed.withLock { $0 }.sorted() == [1, 2])
        #expect(Self.isReady(cache.lookup(Self.key(inode: 1)), count: 300))
        guard case .ready = cache.claim(Self.key(inode: 1), waiter: waiter(4)) else { Issue.record("stored body not handed out"); return }
        #expect(cache.statistics.compressions == 1)
        #expect(cache.pendingCount == 1)
    }

    @Test("incompressible is remembered; a failure is not (the next request tries again) and its waiters get nil")
    func incompressibleAndFailed() throws {
        let loop = try EventLoop()
        let cache = CompressionCache(maximumBytes: 1 << 20)
        let resumed = Locked<[Bool]>([])
        let waiter = CompressionCache.Waiter(loop: loop) { body in resumed.withLock { $0.append(body != nil) } }
        _ = cache.claim(Self.key(inode: 1), waiter: waiter)
        cache.finish(Self.key(inode: 1), outcome: .incompressible)
        guard case .incompressible = cache.lookup(Self.key(inode: 1)) else { Issue.record("not remembered"); return }

        _ = cache.claim(Self.key(inode: 2), waiter: waiter)
        cache.finish(Self.key(inode: 2), outcome: .failed)
        #expect(Self.isAbsent(cache.lookup(Self.key(inode: 2))))
        guard case .claimed = cache.claim(Self.key(inode: 2), waiter: waiter) else { Issue.record("a failure was stored"); return }
        for _ in 0..<3 { try loop.runTurn(maximumWait: 0) }
        #expect(resumed.withLock { $0 } == [false, false])
        let statistics = cache.statistics
        #expect(statistics.incompressible == 1 && statistics.failures == 1 && statistics.entries == 1)
        #expect(statistics.bytes == CompressionCache.entryOverhead)
    }

    @Test("bounded in bytes: the least recently used entry goes first; a lookup makes an entry recent")
    func leastRecentlyUsed() throws {
        let loop = try EventLoop()
        let waiter = CompressionCache.Waiter(loop: loop) { _ in }
        let entry = 1000 + CompressionCache.entryOverhead
        let cache = CompressionCache(maximumBytes: 3 * entry)
        for inode in 1...3 {
            _ = cache.claim(Self.key(inode: UInt64(inode)), waiter: waiter)
            cache.finish(Self.key(inode: UInt64(inode)), outcome: Self.body(1000))
        }
        #expect(cache.statistics.bytes == 3 * entry)
        _ = cache.lookup(Self.key(inode: 1))  // 2 is now the oldest
        _ = cache.claim(Self.key(inode: 4), waiter: waiter)
        cache.finish(Self.key(inode: 4), outcome: Self.body(1000))
        #expect(Self.isAbsent(cache.lookup(Self.key(inode: 2))))
        for inode in [1, 3, 4] {
            #expect(Self.isReady(cache.lookup(Self.key(inode: UInt64(inode))), count: 1000), "\(inode)")
        }
        #expect(cache.statistics.evictions == 1)
        #expect(cache.statistics.bytes == 3 * entry)

        // One large body pushes out as many as it needs.
        _ = cache.claim(Self.key(inode: 5), waiter: waiter)
        cache.finish(Self.key(inode: 5), outcome: Self.body(2 * entry))
        #expect(cache.statistics.entries == 1)
        #expect(Self.isReady(cache.lookup(Self.key(inode: 5)), count: 2 * entry))
    }

    @Test("a body larger than the whole cache is handed to its waiters but not kept")
    func largerThanTheCache() throws {
        let loop = try EventLoop()
        let cache = CompressionCache(maximumBytes: 500)
        let sizes = Locked<[Int]>([])
        let waiter = CompressionCache.Waiter(loop: loop) { body in sizes.withLock { $0.append(body?.count ?? 0) } }
        _ = cache.claim(Self.key(inode: 1), waiter: waiter)
        cache.finish(Self.key(inode: 1), outcome: Self.body(1000))
        for _ in 0..<3 { try loop.runTurn(maximumWait: 0) }
        #expect(sizes.withLock { $0 } == [1000])
        #expect(Self.isAbsent(cache.lookup(Self.key(inode: 1))))
        #expect(cache.statistics.entries == 0 && cache.statistics.bytes == 0)
    }

    @Test("a changed file is a new key: the old version's body is never handed out for it")
    func fileVersions() throws {
        let loop = try EventLoop()
        let cache = CompressionCache(maximumBytes: 1 << 20)
        let waiter = CompressionCache.Waiter(loop: loop) { _ in }
        _ = cache.claim(Self.key(inode: 1, modified: 1), waiter: waiter)
        cache.finish(Self.key(inode: 1, modified: 1), outcome: Self.body(10))
        #expect(Self.isAbsent(cache.lookup(Self.key(inode: 1, modified: 2))))
    }
}

@Suite("CompressionSettings: which files are compressed")
struct CompressionSettingsTests {
    @Test("media type patterns: type/subtype or type/*, without regard to case; parameters ignored")
    func patterns() {
        let settings = CompressionSettings()
        #expect(settings.compresses(contentType: "text/html; charset=utf-8"))
        #expect(settings.compresses(contentType: "text/javascript; charset=utf-8"))
        #expect(settings.compresses(contentType: "application/json"))
        #expect(settings.compresses(contentType: "image/svg+xml"))
        #expect(settings.compresses(contentType: "application/wasm"))
        #expect(!settings.compresses(contentType: "image/png"))
        #expect(!settings.compresses(contentType: "font/woff2"))
        #expect(!settings.compresses(contentType: "application/octet-stream"))

        #expect(MediaTypePattern("Text/*")?.description == "text/*")
        #expect(MediaTypePattern("application/vnd.api+json") != nil)
        for bad in ["text", "*/*", "text/", "/css", "text/css/x", "te xt/css", "text/c,ss", ""] {
            #expect(MediaTypePattern(bad) == nil, "\(bad)")
        }
        let css = MediaTypePattern("text/css")!
        #expect(Array("TEXT/CSS".utf8).withUnsafeBytes { css.matches($0) })
        #expect(!Array("text/csv".utf8).withUnsafeBytes { css.matches($0) })
    }

    @Test("levels default per coding; copies share one cache; a new cache size makes a new cache")
    func levelsAndCache() {
        var settings = CompressionSettings(cacheSize: 1 << 20)
        #expect(settings.level(.brotli) == Compressor.defaultLevel(.brotli))
        settings.levels[.gzip] = 9
        #expect(settings.level(.gzip) == 9)
        let copy = settings
        #expect(copy.cache === settings.cache)
        settings.cacheSize = 2 << 20
        #expect(copy.cache !== settings.cache)
        #expect(settings.cache.maximumBytes == 2 << 20)
    }
}
