import SwiftletHTTP

/// Compression on the fly: a file of a compressible type with no
/// precompressed sibling is sent compressed in the coding the request's
/// `accept-encoding` prefers, from the shared `CompressionCache`.
///
/// - The compressed representation has its own strong ETag, the file's
///   with the coding and level appended (`"…-br5"`): RFC 9110 §8.8.3 asks
///   for a different entity tag per representation.
/// - Every response for such a file carries `vary: accept-encoding` (§12.5.5),
///   whether or not it was compressed, so caches keep the forms apart.
/// - Compressed responses carry no `accept-ranges`: ranges are served from
///   the file as it is (as nginx does), and a client resuming a compressed
///   body with `If-Range` and its ETag gets the whole file instead.
/// - A file not yet compressed is compressed once: on the loop when small
///   and in memory, else on the compression thread while its requests wait
///   parked (another loop's requests for it wait for the same work).
extension StaticFileHandler {
    /// Whether `file` is one compression applies to.
    func compresses(_ file: CachedFile) -> Bool {
        guard compression.enabled, !file.isDirectory, file.size > 0, file.size >= compression.minimumSize,
              file.size <= compression.cacheSize else { return false }
        if let known = file.compressible { return known }
        let compressible = compression.compresses(contentType: file.contentType)
        file.compressible = compressible
        return compressible
    }

    func serveCompressed(_ file: CachedFile, coding: ContentCoding, _ exchange: any HTTPExchange,
                         _ requestFields: HTTPFieldList, isHead: Bool) {
        let key = CompressionKey(file, coding: coding, level: compressionLevels[coding.index])
        switch compression.cache.lookup(key) {
        case .ready(let body):
            send(body, of: file, exchange, requestFields, isHead: isHead)
        case .incompressible:
            serveAsStored(file, variant: file, encoding: nil, vary: true, exchange, requestFields, isHead: isHead)
        case .absent:
            compress(file, key: key, exchange, isHead: isHead)
        }
    }

    /// Compresses `file` (or waits for the loop or thread compressing it),
    /// then answers the exchange unless it closed meanwhile.
    private func compress(_ file: CachedFile, key: CompressionKey, _ exchange: any HTTPExchange, isHead: Bool) {
        let pending = PendingBody()
        exchange.context = pending
        let waiter = CompressionCache.Waiter(loop: loop) { [unowned self] body in
            guard !pending.cancelled else { return }
            exchange.context = nil
            let requestFields = exchange.request.fields
            if let body {
                send(body, of: file, exchange, requestFields, isHead: isHead)
            } else {
                serveAsStored(file, variant: file, encoding: nil, vary: true, exchange, requestFields, isHead: isHead)
            }
        }
        let cache = compression.cache
        switch cache.claim(key, waiter: waiter) {
        case .waiting:
            return
        case .ready(let body):
            exchange.context = nil
            send(body, of: file, exchange, exchange.request.fields, isHead: isHead)
        case .incompressible:
            exchange.context = nil
            serveAsStored(file, variant: file, encoding: nil, vary: true, exchange, exchange.request.fields, isHead: isHead)
        case .claimed:
            compressionCount += 1
            let job = CompressionJob(file: file, key: key, cache: cache)
            if file.size <= compression.inlineLimit && Prefetcher.isResident(file.bytes!) {
                job.run()  // the waiter resumes on the loop's next turn
            } else {
                Self.compressor.submit { job.run() }
            }
        }
    }

    /// Sends `body`, the compressed form of `file`: a 200, or a 304 when
    /// the request's validators match the compressed form.
    private func send(_ body: CompressedBody, of file: CachedFile, _ exchange: any HTTPExchange,
                      _ requestFields: HTTPFieldList, isHead: Bool) {
        let fields = exchange.responseFields
        let etag = file.compressedETag(body.coding, level: body.level)
        if Self.notModified(requestFields, etag: etag, modified: file.modified) {
            commonFields(fields)
            validatorFields(fields, etag: etag, lastModified: file.lastModified, vary: true)
            count(304)
            exchange.sendHead(status: 304, endOfStream: true)
            return
        }
        if !isHead { sendEarlyHints(file, exchange) }
        fields.appendShared(compressedHead(file, body, etag: etag))
        dateField(fields)
        count(200)
        exchange.sendHead(status: 200, endOfStream: isHead)
        if !isHead { exchange.sendBody(borrowing: body.bytes, owner: body, release: nil, endOfStream: true) }
    }

    /// The head of a 200 with `body` but for its date: made once per file
    /// version and coding, kept with the cache entry like `wholeHead`.
    private func compressedHead(_ file: CachedFile, _ body: CompressedBody, etag: UnsafeRawBufferPointer) -> HTTPFieldList {
        let slot = body.coding.index
        if slot < file.compressedHeads.count, let head = file.compressedHeads[slot], head.length == body.count { return head.fields }
        let fields = HTTPFieldList(byteCapacity: 256, fieldCapacity: 10)
        serverName.withUnsafeBytes { fields.append(name: HTTPFieldList.span("server"), value: $0) }
        validatorFields(fields, etag: etag, lastModified: file.lastModified, vary: true)
        fields.append("content-encoding", body.coding.token)
        fields.append("content-type", file.contentType)
        fields.append("content-length", integer: body.count)
        if file.compressedHeads.isEmpty { file.compressedHeads = Array(repeating: nil, count: ContentCoding.allCases.count) }
        file.compressedHeads[slot] = CachedFile.CompressedHead(fields: fields, length: body.count)
        return fields
    }
}

/// Compresses a file and hands the outcome to the cache, on the loop or on
/// the compression thread. The thread only reads the mapping (kept alive
/// by `file`) and its immutable properties (hence the unchecked Sendable).
final class CompressionJob: @unchecked Sendable {
    let file: CachedFile
    let key: CompressionKey
    let cache: CompressionCache

    init(file: CachedFile, key: CompressionKey, cache: CompressionCache) {
        self.file = file
        self.key = key
        self.cache = cache
    }

    func run() {
        var outcome = Compressor.compress(file.bytes!, coding: key.coding, level: key.level)
        // A file truncated or written in place while it was read: the bytes
        // may mix versions (or be zeros the SIGBUS guard put in). Not stored;
        // the waiting requests get the file as it is, which its own checks cancel.
        if !file.isIntact { outcome = .failed }
        cache.finish(key, outcome: outcome)
    }
}
