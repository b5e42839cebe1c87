import Glibc
import SwiftletHTTP
import SwiftletLoop

/// How `StaticFileHandler` serves a directory.
public struct StaticFileConfiguration: Sendable {
    /// The document root (a directory).
    public var root: String
    /// File served for a directory request ("/dir/").
    public var index = "index.html"
    /// Value of a Cache-Control field sent with every file, if any.
    public var cacheControl: String?
    /// Serve `file.br` / `file.zst` / `file.gz` to clients that accept that
    /// coding (the highest `accept-encoding` quality; br, then zstd, then
    /// gzip at equal quality).
    public var precompressed = true
    /// Compression on the fly of files without precompressed siblings.
    public var compression = CompressionSettings()
    /// Send a 103 Early Hints with preload links for an HTML page's
    /// stylesheets and scripts before its 200 (see `EarlyHints`).
    public var earlyHints = EarlyHints.Policy.off
    /// Follow symlinks inside the root (never ones leading outside it).
    public var followSymlinks = false
    /// Bytes of mapped files the cache keeps.
    public var fileCacheSize = 256 << 20
    /// Value of the Server field.
    public var serverName = "swiftlet"

    public init(root: String) { self.root = root }
}

/// Serves files from a directory, like a careful production file server:
/// GET and HEAD; percent-decoded, normalized paths that cannot leave the
/// root; index files and slash redirects for directories; content types;
/// strong ETags and Last-Modified with If-None-Match / If-Modified-Since;
/// byte ranges with If-Range (multipart/byteranges for several);
/// precompressed `.br`/`.zst`/`.gz` siblings, else compression on the fly
/// (cached per file version; see `CompressionSettings`); 103 Early Hints
/// for HTML pages (`EarlyHints`); `404.html` as the 404 body.
///
/// File bytes reach the socket without a copy through user space: responses
/// borrow regions of cached `mmap`s. Pages not in memory are read by a
/// helper thread first, so a cold file never stalls the loop.
///
/// One instance per loop (it is loop-confined).
public final class StaticFileHandler: HTTPHandler {
    public let configuration: StaticFileConfiguration
    let loop: EventLoop
    let cache: FileCache
    let compression: CompressionSettings
    /// `compression.level` of each coding, by `ContentCoding.index`.
    let compressionLevels: [Int]
    /// File lookups answered from this loop's cache of open files, and
    /// those that had to open the file (for metrics).
    public var fileCacheHits: Int { cache.hits }
    public var fileCacheMisses: Int { cache.misses }
    static let prefetcher = Prefetcher()
    static let compressor = WorkerThread(name: "swiftlet-compr")
    // Scratch buffers and counters mutated in place on every request live in
    // `UncheckedCell`s (no run-time exclusivity checks). Invariant: nothing
    // that mutates them calls a handler, an exchange or a closure of ours.
    private let pathScratchCell: UncheckedCell<[UInt8]>
    private var pathScratch: [UInt8] {
        unsafeAddress { pathScratchCell.address }
        unsafeMutableAddress { pathScratchCell.mutableAddress }
    }
    private let decodeScratchCell: UncheckedCell<[UInt8]>
    private var decodeScratch: [UInt8] {
        unsafeAddress { decodeScratchCell.address }
        unsafeMutableAddress { decodeScratchCell.mutableAddress }
    }
    private let lookupScratchCell: UncheckedCell<[UInt8]>
    private var lookupScratch: [UInt8] {
        unsafeAddress { lookupScratchCell.address }
        unsafeMutableAddress { lookupScratchCell.mutableAddress }
    }
    private var dateSecond = -1
    /// The Date value of this second, in memory that never moves (an array
    /// here was retained and released around every read).
    private let dateBytesCell = UncheckedCell(InlineArray<29, UInt8>(repeating: 0))
    private var dateBytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: dateBytesCell.mutableAddress, count: HTTPDate.length)
    }
    private let indexName: [UInt8]
    private let cacheControl: [UInt8]?
    let serverName: [UInt8]
    /// Responses by status, 100...999 (`HTTPStatus.isValid`) at
    /// `status - 100`: an index, not a hash, per response.
    let responseCountsCell = UncheckedCell<[Int]>([Int](repeating: 0, count: 900))
    var responseCounts: [Int] {
        unsafeAddress { responseCountsCell.address }
        unsafeMutableAddress { responseCountsCell.mutableAddress }
    }
    var prefetchCount = 0
    var compressionCount = 0
    var prefetchReadCount = 0
    /// Responses by status, for statistics and tests.
    public var responses: [Int: Int] {
        var byStatus: [Int: Int] = [:]
        for (index, count) in responseCounts.enumerated() where count > 0 { byStatus[100 + index] = count }
        return byStatus
    }
    /// Files this handler compressed (or found incompressible): each file
    /// version once per coding, however many requests.
    public var compressions: Int { compressionCount }
    /// Times a response waited for pages to be prefetched.
    public var prefetches: Int { prefetchCount }
    /// Regions read in by the prefetcher (waits for a region already being
    /// read share its read).
    public var prefetchReads: Int { prefetchReadCount }

    public init(configuration: StaticFileConfiguration, loop: EventLoop) throws {
        self.configuration = configuration
        self.loop = loop
        compression = configuration.compression
        compressionLevels = ContentCoding.allCases.map { configuration.compression.level($0) }
        pathScratchCell = UncheckedCell([])
        decodeScratchCell = UncheckedCell([])
        lookupScratchCell = UncheckedCell([])
        precondition(MemoryLayout<InlineArray<29, UInt8>>.size == HTTPDate.length)
        cache = try FileCache(root: configuration.root, followSymlinks: configuration.followSymlinks,
                              maximumBytes: configuration.fileCacheSize)
        indexName = Array(configuration.index.utf8)
        cacheControl = configuration.cacheControl.map { Array($0.utf8) }
        serverName = Array(configuration.serverName.utf8)
    }

    // MARK: HTTPHandler

    public func exchangeDidStart(_ exchange: any HTTPExchange) {
        let request = exchange.request
        let isHead = request.methodIs("HEAD")
        guard isHead || request.methodIs("GET") else {
            exchange.responseFields.append("allow", "GET, HEAD")
            respond(exchange, status: 405, text: "405 Method Not Allowed\n", isHead: false)
            return
        }
        // Most paths are used as they come (no copy); the rest are
        // normalized into `pathScratch`, which `route` does not change.
        let target = request.pathBytes
        if let plain = RequestPath.plainPath(target) {
            return route(exchange, request.fields, path: plain.path, trailingSlash: plain.trailingSlash, isHead: isHead)
        }
        switch RequestPath.normalizeSegments(target, into: &pathScratch, scratch: &decodeScratch) {
        case .failure:
            respond(exchange, status: 400, text: "400 Bad Request\n", isHead: isHead)
        case .success(let trailingSlash):
            pathScratch.withUnsafeBytes { route(exchange, request.fields, path: $0, trailingSlash: trailingSlash, isHead: isHead) }
        }
    }

    public func exchangeDidClose(_ exchange: any HTTPExchange, reason: HTTPExchangeCloseReason) {
        guard let context = exchange.context else { return }  // most exchanges never set one
        (context as? PendingBody)?.cancelled = true
        exchange.context = nil
    }

    // MARK: routing

    /// Serves `path` (normalized, without its leading "/"). `requestFields`
    /// are the exchange's request fields, passed down so they are fetched
    /// (and counted) once per request.
    private func route(_ exchange: any HTTPExchange, _ requestFields: HTTPFieldList, path: UnsafeRawBufferPointer,
                       trailingSlash: Bool, isHead: Bool) {
        let found = cache.lookup(path, now: loop.now)
        guard case .file(let entry) = found else {
            notFound(exchange, isHead: isHead)
            return
        }
        if entry.isDirectory {
            guard trailingSlash || path.isEmpty else {
                redirectToDirectory(exchange, isHead: isHead)
                return
            }
            lookupScratch.removeAll(keepingCapacity: true)
            lookupScratch.append(contentsOf: path)
            if !lookupScratch.isEmpty { lookupScratch.append(UInt8(ascii: "/")) }
            lookupScratch.append(contentsOf: indexName)
            let index = lookupScratch.withUnsafeBytes { cache.lookup($0, now: loop.now) }
            guard case .file(let file) = index, !file.isDirectory else {
                notFound(exchange, isHead: isHead)
                return
            }
            serve(file, exchange, requestFields, isHead: isHead)
        } else if trailingSlash {
            notFound(exchange, isHead: isHead)
        } else {
            serve(entry, exchange, requestFields, isHead: isHead)
        }
    }

    /// "/dir" names a directory: 301 to "/dir/" (the query is kept).
    private func redirectToDirectory(_ exchange: any HTTPExchange, isHead: Bool) {
        let target = exchange.request.pathBytes
        var location = [UInt8]()
        let query = target.firstIndex(of: UInt8(ascii: "?")) ?? target.count
        location.append(contentsOf: target[0..<query])
        location.append(UInt8(ascii: "/"))
        location.append(contentsOf: target[query...])
        location.withUnsafeBytes { exchange.responseFields.append(name: HTTPFieldList.span("location"), value: $0) }
        respond(exchange, status: 301, text: "301 Moved Permanently\n", isHead: isHead)
    }

    private func notFound(_ exchange: any HTTPExchange, isHead: Bool) {
        if case .file(let page) = "404.html".utf8CString.withUnsafeBytes({ cache.lookup(UnsafeRawBufferPointer(rebasing: $0.dropLast()), now: loop.now) }),
           !page.isDirectory {
            commonFields(exchange.responseFields)
            exchange.responseFields.append("content-type", "text/html; charset=utf-8")
            exchange.responseFields.append("content-length", integer: page.size)
            count(404)
            exchange.sendHead(status: 404, endOfStream: isHead || page.size == 0)
            if !isHead, let bytes = page.bytes { sendRegion(bytes, owner: page, exchange, endOfStream: true) }
            return
        }
        respond(exchange, status: 404, text: "404 Not Found\n", isHead: isHead)
    }

    // MARK: files

    private func serve(_ file: CachedFile, _ exchange: any HTTPExchange, _ requestFields: HTTPFieldList, isHead: Bool) {
        // Precompressed siblings.
        if configuration.precompressed {
            refreshSiblings(file)
            if file.brotli != nil || file.zstd != nil || file.gzip != nil {
                var variant = file
                var encoding: StaticString?
                if let accept = requestFields.first("accept-encoding"),
                   let coding = AcceptEncoding(accept).preferred(isAvailable: { file.sibling($0) != nil }),
                   let sibling = file.sibling(coding) {
                    variant = sibling
                    encoding = coding.token
                }
                serveAsStored(file, variant: variant, encoding: encoding, vary: true, exchange, requestFields, isHead: isHead)
                return
            }
        }
        if compresses(file) {
            // Ranges are served from the file as it is: offsets into a
            // compressed form would depend on the level and the library.
            if let accept = requestFields.first("accept-encoding"),
               let coding = AcceptEncoding(accept).preferred(preference: compression.codings, isAvailable: { _ in true }),
               isHead || requestFields.first("range") == nil {
                serveCompressed(file, coding: coding, exchange, requestFields, isHead: isHead)
            } else {
                serveAsStored(file, variant: file, encoding: nil, vary: true, exchange, requestFields, isHead: isHead)
            }
            return
        }
        serveAsStored(file, variant: file, encoding: nil, vary: false, exchange, requestFields, isHead: isHead)
    }

    /// Serves `variant`, the file itself or a precompressed sibling, whole
    /// or in ranges, or a 304.
    func serveAsStored(_ file: CachedFile, variant: CachedFile, encoding: StaticString?, vary: Bool,
                       _ exchange: any HTTPExchange, _ requestFields: HTTPFieldList, isHead: Bool) {
        let fields = exchange.responseFields
        if Self.notModified(requestFields, etag: variant.etag, modified: variant.modified) {
            commonFields(fields)
            validatorFields(fields, etag: variant.etag, lastModified: variant.lastModified, vary: vary)
            count(304)
            exchange.sendHead(status: 304, endOfStream: true)
            return
        }
        // Ranges (GET only: "GET is the only method for which range handling is defined").
        var outcome = ByteRange.Outcome.whole
        if !isHead, let range = requestFields.first("range") {
            if let ifRange = requestFields.first("if-range") {
                // §13.1.5: honour the range only if the validator still matches
                // (a strong ETag, or exactly the Last-Modified date).
                let strongMatch = HTTPFieldList.equal(variant.etag, ifRange)
                let dateMatch = HTTPFieldList.equal(variant.lastModified, ifRange)
                outcome = strongMatch || dateMatch ? ByteRange.parse(range, size: variant.size) : .whole
            } else {
                outcome = ByteRange.parse(range, size: variant.size)
            }
        }
        switch outcome {
        case .whole:
            if !isHead { sendEarlyHints(file, exchange) }
            // The whole file's head is the same for every response but for
            // its date: built once per file version and shared, not copied.
            fields.appendShared(wholeHead(variant, contentType: file.contentType, encoding: encoding, vary: vary))
            dateField(fields)
            count(200)
            exchange.sendHead(status: 200, endOfStream: isHead || variant.size == 0)
            if !isHead, let bytes = variant.bytes { sendRegion(bytes, owner: variant, exchange, endOfStream: true) }
        case .unsatisfiable:
            partialHead(fields, variant, encoding: encoding, vary: vary)
            fields.append("content-range", "bytes */\(variant.size)")
            respondPlain(exchange, status: 416, text: "416 Range Not Satisfiable\n")
        case .ranges(let ranges) where ranges.count == 1:
            let range = ranges[0]
            partialHead(fields, variant, encoding: encoding, vary: vary)
            fields.append("content-type", file.contentType)
            fields.append("content-range", "bytes \(range.lowerBound)-\(range.upperBound)/\(variant.size)")
            fields.append("content-length", integer: range.count)
            count(206)
            exchange.sendHead(status: 206, endOfStream: false)
            let region = UnsafeRawBufferPointer(rebasing: variant.bytes![range.lowerBound...range.upperBound])
            sendRegion(region, owner: variant, exchange, endOfStream: true)
        case .ranges(let ranges):
            partialHead(fields, variant, encoding: encoding, vary: vary)
            sendMultipart(variant, ranges: ranges, contentType: file.contentType, exchange)
        }
    }

    /// Sends a 103 with the preload links of `file`, an HTML page, before
    /// its 200 (RFC 8297), when the policy covers the exchange's protocol.
    /// The links are found once per file version and kept with the entry.
    /// A page whose pages are not in memory is not scanned on the loop: it
    /// is read in by the prefetcher, and hinted from the next request on.
    func sendEarlyHints(_ file: CachedFile, _ exchange: any HTTPExchange) {
        let policy = configuration.earlyHints
        guard policy != .off, let bytes = file.bytes, Self.isHTML(file.contentType) else { return }
        if policy == .h2 && !HTTPFieldList.equal(HTTPFieldList.span(exchange.protocolName), HTTPFieldList.span("h2")) { return }
        if !file.earlyHintsScanned {
            let region = UnsafeRawBufferPointer(rebasing: bytes.prefix(EarlyHints.scanLimit))
            guard Prefetcher.isResident(region) else {
                if file.prefetches.isEmpty { prefetch(region, of: file, pending: PendingBody()) { _ in } }
                return
            }
            file.earlyHintsScanned = true
            let directory = Array(file.path[..<(file.path.lastIndex(of: UInt8(ascii: "/")).map { $0 + 1 } ?? 0)])
            let links = EarlyHints.links(in: region, directory: directory)
            if !links.isEmpty {
                let fields = HTTPFieldList(byteCapacity: 64 * links.count, fieldCapacity: links.count)
                for link in links { fields.append("link", link) }
                file.earlyHints = fields
            }
        }
        guard let hints = file.earlyHints else { return }
        exchange.responseFields.appendShared(hints)
        exchange.sendHead(status: 103, endOfStream: false)
    }

    static func isHTML(_ contentType: StaticString) -> Bool {
        let prefix = "text/html".utf8
        return contentType.utf8CodeUnitCount >= prefix.count
            && zip(UnsafeRawBufferPointer(start: contentType.utf8Start, count: prefix.count), prefix).allSatisfy { $0 == $1 }
    }

    /// RFC 9110 §14.6: several ranges as multipart/byteranges.
    private func sendMultipart(_ file: CachedFile, ranges: [ClosedRange<Int>], contentType: StaticString, _ exchange: any HTTPExchange) {
        let boundary = "swiftlet-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
        let contentTypeText = String(decoding: UnsafeRawBufferPointer(start: contentType.utf8Start, count: contentType.utf8CodeUnitCount), as: UTF8.self)
        var heads: [[UInt8]] = []
        var length = 0
        for range in ranges {
            let head = Array("\r\n--\(boundary)\r\ncontent-type: \(contentTypeText)\r\ncontent-range: bytes \(range.lowerBound)-\(range.upperBound)/\(file.size)\r\n\r\n".utf8)
            heads.append(head)
            length += head.count + range.count
        }
        let tail = Array("\r\n--\(boundary)--\r\n".utf8)
        length += tail.count
        exchange.responseFields.append("content-type", "multipart/byteranges; boundary=\(boundary)")
        exchange.responseFields.append("content-length", integer: length)
        count(206)
        exchange.sendHead(status: 206, endOfStream: false)
        let whole = file.bytes!
        let send = { [unowned self] in
            for (head, range) in zip(heads, ranges) {
                head.withUnsafeBytes { exchange.sendBody(copying: $0, endOfStream: false) }
                exchange.sendBody(borrowing: UnsafeRawBufferPointer(rebasing: whole[range.lowerBound...range.upperBound]),
                                  owner: file, release: nil, endOfStream: false)
            }
            tail.withUnsafeBytes { exchange.sendBody(copying: $0, endOfStream: true) }
            _ = self
        }
        if Prefetcher.isResident(whole) {
            send()
        } else {
            prefetchThen(whole, owner: file, exchange, send)
        }
    }

    /// Sends a region of a mapped file: at once if its pages are in memory,
    /// after a prefetch if not; large regions are pulled slice by slice.
    func sendRegion(_ region: UnsafeRawBufferPointer, owner: CachedFile, _ exchange: any HTTPExchange, endOfStream: Bool) {
        if region.count > FileBodySource.slice {
            exchange.sendBody(from: FileBodySource(region: region, owner: owner, handler: self))
            return
        }
        let now = loop.now
        if now &- owner.residentAt < 1_000_000_000 || Prefetcher.isResident(region) {
            owner.residentAt = now
            exchange.sendBody(borrowing: region, owner: owner, release: nil, endOfStream: endOfStream)
            return
        }
        prefetchThen(region, owner: owner, exchange) {
            exchange.sendBody(borrowing: region, owner: owner, release: nil, endOfStream: endOfStream)
        }
    }

    /// Prefetches `region`, then runs `body` on the loop unless the exchange
    /// was closed meanwhile; if the file shrank under the region, the
    /// exchange is cancelled instead (its body can no longer be completed).
    func prefetchThen(_ region: UnsafeRawBufferPointer, owner: CachedFile, _ exchange: any HTTPExchange, _ body: @escaping () -> Void) {
        let pending = PendingBody()
        exchange.context = pending
        prefetch(region, of: owner, pending: pending) { populated in
            if populated { body() } else { exchange.cancel() }
        }
    }

    /// Reads `region` of `owner` into memory off the loop, then runs `body`
    /// on the loop with whether that succeeded, unless `pending` was
    /// cancelled meanwhile. Responses waiting for the same region share one
    /// read; the waiting responses are parked, nothing polls for them.
    func prefetch(_ region: UnsafeRawBufferPointer, of owner: CachedFile, pending: PendingBody, _ body: @escaping (Bool) -> Void) {
        prefetchCount += 1
        let key = PrefetchRegion(offset: region.baseAddress! - owner.bytes!.baseAddress!, length: region.count)
        let waiter = PrefetchWaiter(pending: pending, body: body)
        if owner.prefetches[key] != nil {
            owner.prefetches[key]!.append(waiter)
            return
        }
        owner.prefetches[key] = [waiter]
        prefetchReadCount += 1
        let completion = PrefetchCompletion(owner: owner, region: key)
        Self.prefetcher.prefetch(region, loop: loop) { populated in completion.run(populated: populated) }
    }

    /// Whether a conditional GET or HEAD is answered with 304: RFC 9110
    /// §13.2.2, If-None-Match is evaluated first and, when present,
    /// If-Modified-Since is ignored.
    static func notModified(_ requestFields: HTTPFieldList, etag: UnsafeRawBufferPointer, modified: Int) -> Bool {
        if let noneMatch = requestFields.first("if-none-match") {
            return etagMatches(list: noneMatch, etag: etag)
        }
        if let since = requestFields.first("if-modified-since"), let date = HTTPDate.parse(since) {
            return modified <= date
        }
        return false
    }

    /// If-None-Match against `etag` with the weak comparison (§13.1.2).
    static func etagMatches(list: UnsafeRawBufferPointer, etag: UnsafeRawBufferPointer) -> Bool {
        let mine = String(decoding: etag, as: UTF8.self)
        for item in String(decoding: list, as: UTF8.self).split(separator: ",") {
            var tag = item.trimmingCharacters(in: " \t")
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }
            if tag == mine[...] { return true }
        }
        return false
    }

    private func refreshSiblings(_ file: CachedFile) {
        let now = loop.now
        guard file.siblingsCheckedAt == 0 || now &- file.siblingsCheckedAt >= 1_000_000_000 else { return }
        file.siblingsCheckedAt = now
        file.brotli = sibling(of: file, suffix: ContentCoding.brotli.suffix)
        file.zstd = sibling(of: file, suffix: ContentCoding.zstd.suffix)
        file.gzip = sibling(of: file, suffix: ContentCoding.gzip.suffix)
    }

    private func sibling(of file: CachedFile, suffix: String) -> CachedFile? {
        lookupScratch.removeAll(keepingCapacity: true)
        lookupScratch.append(contentsOf: file.path)
        lookupScratch.append(contentsOf: suffix.utf8)
        guard case .file(let entry) = lookupScratch.withUnsafeBytes({ cache.lookup($0, now: loop.now) }), !entry.isDirectory else { return nil }
        return entry
    }

    // MARK: responses

    func commonFields(_ fields: HTTPFieldList) {
        serverName.withUnsafeBytes { fields.append(name: HTTPFieldList.span("server"), value: $0) }
        dateField(fields)
    }

    func dateField(_ fields: HTTPFieldList) {
        var now = time_t()
        time(&now)
        if Int(now) != dateSecond {
            dateSecond = Int(now)
            HTTPDate.format(Int(now), into: dateBytes)
        }
        fields.append(name: HTTPFieldList.span("date"), value: UnsafeRawBufferPointer(dateBytes))
    }

    /// What a 304 repeats of the 200 it stands for (RFC 9110 §15.4.5).
    func validatorFields(_ fields: HTTPFieldList, etag: UnsafeRawBufferPointer, lastModified: UnsafeRawBufferPointer, vary: Bool) {
        fields.append(name: HTTPFieldList.span("etag"), value: etag)
        fields.append(name: HTTPFieldList.span("last-modified"), value: lastModified)
        if let cacheControl { cacheControl.withUnsafeBytes { fields.append(name: HTTPFieldList.span("cache-control"), value: $0) } }
        if vary { fields.append("vary", "accept-encoding") }
    }

    /// The fields of every 200 and 206 of `variant`, before its content type
    /// and length.
    private func representationFields(_ fields: HTTPFieldList, _ variant: CachedFile, encoding: StaticString?, vary: Bool) {
        validatorFields(fields, etag: variant.etag, lastModified: variant.lastModified, vary: vary)
        if let encoding { fields.append("content-encoding", encoding) }
        fields.append("accept-ranges", "bytes")
    }

    /// The head of a 206 or 416, before its content fields.
    private func partialHead(_ fields: HTTPFieldList, _ variant: CachedFile, encoding: StaticString?, vary: Bool) {
        commonFields(fields)
        representationFields(fields, variant, encoding: encoding, vary: vary)
    }

    /// The head of a 200 with the whole of `variant`, but for its date:
    /// made once per file version (and `vary`), kept with the cache entry.
    private func wholeHead(_ variant: CachedFile, contentType: StaticString, encoding: StaticString?, vary: Bool) -> HTTPFieldList {
        if let head = variant.wholeHead, head.vary == vary, head.contentType.utf8Start == contentType.utf8Start {
            return head.fields
        }
        let fields = HTTPFieldList(byteCapacity: 256, fieldCapacity: 10)
        serverName.withUnsafeBytes { fields.append(name: HTTPFieldList.span("server"), value: $0) }
        representationFields(fields, variant, encoding: encoding, vary: vary)
        fields.append("content-type", contentType)
        fields.append("content-length", integer: variant.size)
        variant.wholeHead = CachedFile.WholeHead(fields: fields, vary: vary, contentType: contentType)
        return fields
    }

    private func respond(_ exchange: any HTTPExchange, status: Int, text: StaticString, isHead: Bool) {
        commonFields(exchange.responseFields)
        respondPlain(exchange, status: status, text: text, isHead: isHead)
    }

    private func respondPlain(_ exchange: any HTTPExchange, status: Int, text: StaticString, isHead: Bool = false) {
        exchange.responseFields.append("content-type", "text/plain; charset=utf-8")
        exchange.responseFields.append("content-length", integer: text.utf8CodeUnitCount)
        count(status)
        exchange.sendHead(status: status, endOfStream: isHead)
        if !isHead {
            exchange.sendBody(borrowing: UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount),
                              owner: nil, release: nil, endOfStream: true)
        }
    }

    func count(_ status: Int) {
        guard HTTPStatus.isValid(status) else { return }
        responseCounts[status - 100] += 1
    }
}

/// Marks a response waiting for a prefetch; set when the exchange closes.
final class PendingBody {
    var cancelled = false
}

/// Runs a prefetch's waiters on the loop. Created on the loop and run
/// there; it only passes through the helper thread, which never touches it
/// (hence the unchecked Sendable).
final class PrefetchCompletion: @unchecked Sendable {
    let owner: CachedFile
    let region: PrefetchRegion

    init(owner: CachedFile, region: PrefetchRegion) {
        self.owner = owner
        self.region = region
    }

    func run(populated: Bool) {
        for waiter in owner.prefetches.removeValue(forKey: region) ?? [] { waiter.resume(populated: populated) }
    }
}

/// A large file region pulled slice by slice as the exchange can send.
///
/// The region is walked in chunks aligned to `slice` in the file (so that
/// concurrent responses for the same file wait for the same prefetches).
/// Each chunk is checked once: if `mincore` finds it resident, or once its
/// prefetch completes, its bytes are sent without asking again, so a page
/// the kernel reclaims meanwhile costs one wait inside `sendmsg`, never a
/// loop of checks and prefetches. Before each slice is queued, the file
/// must still be the version the ETag names; if it was
/// truncated or written in place, the exchange is cancelled (HTTP/2:
/// RST_STREAM; HTTP/1.1: the connection closes), so no client receives a
/// complete body made of two versions.
final class FileBodySource: HTTPBodySource {
    static let slice = 256 * 1024
    let region: UnsafeRawBufferPointer
    let owner: CachedFile
    unowned(unsafe) let handler: StaticFileHandler  // the handler outlives its responses
    /// Where the region starts in the file.
    let fileOffset: Int
    var offset = 0
    /// Bytes of the region below this offset are known to be in memory.
    var residentEnd = 0
    var waiting = false
    let pending = PendingBody()

    init(region: UnsafeRawBufferPointer, owner: CachedFile, handler: StaticFileHandler) {
        self.region = region
        self.owner = owner
        self.handler = handler
        fileOffset = region.baseAddress! - owner.bytes!.baseAddress!
    }

    func exchange(_ exchange: any HTTPExchange, wantsBodyUpTo maximum: Int) {
        guard !waiting, offset < region.count else { return }
        // One fstat per call (a call sends up to a turn's budget).
        guard owner.isIntact else {
            exchange.cancel()
            return
        }
        if offset >= residentEnd {
            // The chunk of the file that holds `offset`, clipped to the region.
            let chunkEnd = min(((fileOffset + offset) / Self.slice + 1) * Self.slice - fileOffset, region.count)
            let chunk = UnsafeRawBufferPointer(rebasing: region[offset..<chunkEnd])
            if Prefetcher.isResident(chunk) {
                residentEnd = chunkEnd
            } else {
                waiting = true
                if exchange.context == nil { exchange.context = pending }
                let pending = (exchange.context as? PendingBody) ?? pending
                handler.prefetch(chunk, of: owner, pending: pending) { [self] populated in
                    waiting = false
                    guard populated else {
                        exchange.cancel()
                        return
                    }
                    residentEnd = chunkEnd
                    exchange.bodySourceDidBecomeReady()
                }
                return
            }
        }
        let length = min(max(maximum, 1), residentEnd - offset)
        let last = offset + length == region.count
        let bytes = UnsafeRawBufferPointer(rebasing: region[offset..<offset + length])
        offset += length
        exchange.sendBody(borrowing: bytes, owner: owner, release: nil, endOfStream: last)
    }
}
