import CSwiftletSystem
import Glibc
import SwiftletHTTP
import SwiftletLoop

/// One file (or directory) of the document root, `mmap`ed.
///
/// Response bodies borrow regions of `bytes` with the entry as owner, so
/// the mapping lives until the last response using it is written, even if
/// the cache dropped the entry meanwhile.
public final class CachedFile: FileCacheIndexEntry {
    let path: [UInt8]
    let hash: Int
    let isDirectory: Bool
    let device: UInt64
    let inode: UInt64
    let size: Int
    let modified: Int          // seconds
    let modifiedNanoseconds: Int
    /// The mapping (nil for empty files and directories).
    let bytes: UnsafeRawBufferPointer?
    /// Strong ETag: "inode-size-mtime" in hex (RFC 9110 §8.8.3). Raw memory
    /// owned by the entry, so reading it per response costs no reference count.
    let etag: UnsafeRawBufferPointer
    /// Last-Modified as an IMF-fixdate (owned like `etag`).
    let lastModified: UnsafeRawBufferPointer
    let contentType: StaticString
    var validatedAt: UInt64 = 0
    var lastUsed: UInt64 = 0
    /// When page-cache residency was last confirmed (loop clock).
    var residentAt: UInt64 = 0
    /// Precompressed siblings, looked up on first use and revalidated with the entry.
    var siblingsCheckedAt: UInt64 = 0
    /// Precompressed siblings (`.br`, `.zst`, `.gz`), by `ContentCoding`.
    var brotli: CachedFile?
    var zstd: CachedFile?
    var gzip: CachedFile?

    func sibling(_ coding: ContentCoding) -> CachedFile? {
        switch coding {
        case .brotli: brotli
        case .zstd: zstd
        case .gzip: gzip
        }
    }
    /// Files sent in slices (larger than `FileBodySource.slice`) keep their
    /// descriptor, so each slice can check that the file was not changed in
    /// place since the ETag was made (-1 for smaller files).
    let descriptor: Int32
    /// The mapping's slot in the SIGBUS guard (-1: unguarded).
    let guardSlot: Int32
    /// Prefetches of this file's regions in flight, by region (one read per
    /// region, however many responses wait for it).
    var prefetches: [PrefetchRegion: [PrefetchWaiter]] = [:]
    /// The head of a 200 with the whole file but for its date, shared by
    /// its responses (`StaticFileHandler.wholeHead`), with what it was made for.
    struct WholeHead {
        let fields: HTTPFieldList
        let vary: Bool
        let contentType: StaticString
    }
    var wholeHead: WholeHead?
    /// 103 Early Hints: whether the page was scanned for links, and the
    /// `link` fields found (nil: none).
    var earlyHintsScanned = false
    var earlyHints: HTTPFieldList?
    /// Whether compression on the fly applies to the file's type (nil: not
    /// asked yet).
    var compressible: Bool?
    /// The heads of 200s with the compressed file but for their date, by
    /// coding index (`StaticFileHandler.compressedHead`), with the body
    /// length; empty until the file is first sent compressed.
    struct CompressedHead {
        let fields: HTTPFieldList
        let length: Int
    }
    var compressedHeads: [CompressedHead?] = []
    /// Strong ETags of the compressed forms, by coding index (owned like `etag`).
    private var compressedETags: [UnsafeRawBufferPointer?] = []

    /// The ETag of the file compressed with `coding` at `level`: the file's,
    /// with the coding and level before the closing quote (`"…-br5"`).
    func compressedETag(_ coding: ContentCoding, level: Int) -> UnsafeRawBufferPointer {
        if coding.index < compressedETags.count, let tag = compressedETags[coding.index] { return tag }
        var tag = Array(etag.dropLast())
        tag.append(contentsOf: "-\(coding.rawValue)\(level)\"".utf8)
        let stored = Self.copy(tag)
        if compressedETags.isEmpty { compressedETags = Array(repeating: nil, count: ContentCoding.allCases.count) }
        compressedETags[coding.index] = stored
        return stored
    }

    init(path: [UInt8], hash: Int, fd: Int32, status: stat) throws {
        let directory = (status.st_mode & S_IFMT) == S_IFDIR
        let size = directory ? 0 : Int(status.st_size)
        let inode = UInt64(status.st_ino)
        let modified = Int(status.st_mtim.tv_sec)
        var mapped: UnsafeRawBufferPointer?
        if !directory && size > 0 {
            guard let mapping = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), mapping != MAP_FAILED else {
                throw SystemError.last("mmap")
            }
            mapped = UnsafeRawBufferPointer(start: mapping, count: size)
        }
        swiftlet_sigbus_guard_install()
        guardSlot = mapped.map { Int32(swiftlet_mapping_register($0.baseAddress, $0.count)) } ?? -1
        descriptor = size > FileBodySource.slice ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1
        var date = [UInt8](repeating: 0, count: HTTPDate.length)
        date.withUnsafeMutableBytes { HTTPDate.format(modified, into: $0) }
        // The type comes from the extension of the last path segment.
        var type: StaticString = "application/octet-stream"
        if let dot = path.lastIndex(of: UInt8(ascii: ".")), !path[dot...].contains(UInt8(ascii: "/")) {
            type = path[(dot + 1)...].withUnsafeBytes { ContentTypes.type(forExtension: $0) }
        }
        self.path = path
        self.hash = hash
        isDirectory = directory
        device = UInt64(status.st_dev)
        self.inode = inode
        self.size = size
        self.modified = modified
        modifiedNanoseconds = Int(status.st_mtim.tv_nsec)
        bytes = mapped
        etag = Self.copy(Array("\"\(String(inode, radix: 16))-\(String(size, radix: 16))-\(String(modified, radix: 16))\"".utf8))
        lastModified = Self.copy(date)
        contentType = type
    }

    deinit {
        if guardSlot >= 0 { swiftlet_mapping_unregister(guardSlot) }
        if descriptor >= 0 { close(descriptor) }
        if let bytes { munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress!), bytes.count) }
        etag.deallocate()
        lastModified.deallocate()
        for case let tag? in compressedETags { tag.deallocate() }
    }

    private static func copy(_ bytes: [UInt8]) -> UnsafeRawBufferPointer {
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        memory.copyBytes(from: bytes)
        return UnsafeRawBufferPointer(memory)
    }

    /// Whether the mapped bytes are still the version the ETag names: no
    /// read past a shrunk end was absorbed, and (for files kept open) the
    /// file was not truncated or written in place. A file replaced by
    /// rename or deleted stays intact: the mapping keeps the old version.
    var isIntact: Bool {
        if guardSlot >= 0 && swiftlet_mapping_faulted(guardSlot) { return false }
        guard descriptor >= 0 else { return true }
        var status = stat()
        return fstat(descriptor, &status) == 0 && sameFile(as: status)
    }

    /// Whether this is the entry for `path` (`FileCacheIndex`).
    func hasKey(_ path: UnsafeRawBufferPointer) -> Bool {
        self.path.withUnsafeBytes { HTTPFieldList.equal($0, path) }
    }

    func sameFile(as status: stat) -> Bool {
        UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode && Int(status.st_size) == size
            && Int(status.st_mtim.tv_sec) == modified && Int(status.st_mtim.tv_nsec) == modifiedNanoseconds
    }
}

/// The open-file cache of one loop: path → `CachedFile`, revalidated by
/// `fstat` at most once per `revalidateAfter`, bounded in entries and bytes
/// (least recently used goes first). Paths are opened with
/// `openat2(RESOLVE_BENEATH)` relative to the root directory, so the kernel
/// guarantees no path leaves the root (and, without `followSymlinks`, that
/// none goes through a symlink).
final class FileCache {
    enum Lookup {
        case file(CachedFile)
        case missing
        /// Outside the root or through a forbidden symlink.
        case forbidden
    }

    let rootFD: Int32
    /// The root with every symlink resolved (for `--follow-symlinks`).
    let rootRealPath: [UInt8]
    let followSymlinks: Bool
    let maximumBytes: Int
    let maximumEntries: Int
    let revalidateAfter: UInt64
    // The table and the path buffer are mutated in place on every lookup;
    // in `UncheckedCell`s they skip run-time exclusivity checks. Invariant:
    // their mutations never call out of this file.
    private let indexCell = UncheckedCell(FileCacheIndex<CachedFile>())
    private var index: FileCacheIndex<CachedFile> {
        unsafeAddress { indexCell.address }
        unsafeMutableAddress { indexCell.mutableAddress }
    }
    private var entryCount: Int { index.count }
    private var mappedBytes = 0
    private var useCounter: UInt64 = 0
    private let pathBufferCell = UncheckedCell<[UInt8]>([])
    private var pathBuffer: [UInt8] {
        unsafeAddress { pathBufferCell.address }
        unsafeMutableAddress { pathBufferCell.mutableAddress }
    }

    init(root: String, followSymlinks: Bool, maximumBytes: Int, maximumEntries: Int = 4096,
         revalidateAfter: Duration = .seconds(1)) throws {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError.last("open \(root)") }
        rootFD = fd
        var resolved = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard realpath(root, &resolved) != nil else {
            close(fd)
            throw SystemError.last("realpath \(root)")
        }
        rootRealPath = resolved.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        self.followSymlinks = followSymlinks
        self.maximumBytes = maximumBytes
        self.maximumEntries = maximumEntries
        self.revalidateAfter = revalidateAfter.nanoseconds
    }

    deinit { close(rootFD) }

    var count: Int { entryCount }

    static func hash(_ path: UnsafeRawBufferPointer) -> Int {
        var hash: UInt64 = 14_695_981_039_346_656_037
        for byte in path {
            hash ^= UInt64(byte)
            hash &*= 1_099_511_628_211
        }
        return Int(truncatingIfNeeded: hash)
    }

    /// The file at `path` (relative, normalized), from the cache when fresh.
    /// Lookups answered from the cache (the entry still fresh, or
    /// revalidated unchanged) and those that opened the file.
    private(set) var hits = 0
    private(set) var misses = 0

    func lookup(_ path: UnsafeRawBufferPointer, now: UInt64) -> Lookup {
        let hash = Self.hash(path)
        useCounter &+= 1
        if let entry = index.find(hash: hash, key: path) {
            if now &- entry.validatedAt < revalidateAfter {
                entry.lastUsed = useCounter
                hits &+= 1
                return .file(entry)
            }
            return revalidate(entry, path: path, now: now)
        }
        misses &+= 1
        return load(path, hash: hash, now: now, replacing: nil)
    }

    private func revalidate(_ entry: CachedFile, path: UnsafeRawBufferPointer, now: UInt64) -> Lookup {
        let fd = openBeneath(path)
        guard fd >= 0 else {
            remove(entry)
            return fd == -ENOENT || fd == -ENOTDIR ? .missing : .forbidden
        }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            close(fd)
            remove(entry)
            return .missing
        }
        if entry.sameFile(as: status) {
            close(fd)
            entry.validatedAt = now
            entry.lastUsed = useCounter
            hits &+= 1
            return .file(entry)
        }
        close(fd)
        misses &+= 1
        return load(path, hash: entry.hash, now: now, replacing: entry)
    }

    private func openBeneath(_ path: UnsafeRawBufferPointer) -> Int32 {
        pathBuffer.removeAll(keepingCapacity: true)
        if path.isEmpty {
            pathBuffer.append(UInt8(ascii: "."))
        } else {
            pathBuffer.append(contentsOf: path)
        }
        pathBuffer.append(0)
        let fd = pathBuffer.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { name in
                let fd = swiftlet_open_beneath(rootFD, name, !followSymlinks)
                guard fd == -ENOSYS else { return fd }
                // Kernels before 5.6: refuse symlinks outright.
                let plain = openat(rootFD, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
                return plain >= 0 ? plain : -errno
            }
        }
        // RESOLVE_BENEATH refuses every absolute symlink, even one pointing
        // inside the root. When following symlinks, resolve such a path and
        // accept it only if it stays under the root.
        guard fd == -EXDEV && followSymlinks else { return fd }
        return openResolvedInsideRoot(path)
    }

    private func openResolvedInsideRoot(_ path: UnsafeRawBufferPointer) -> Int32 {
        var full = rootRealPath
        full.append(UInt8(ascii: "/"))
        full.append(contentsOf: path)
        full.append(0)
        var resolved = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let ok = full.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { realpath($0, &resolved) != nil }
        }
        guard ok else { return -ENOENT }
        let real = resolved.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        guard real.count > rootRealPath.count, real.starts(with: rootRealPath), real[rootRealPath.count] == UInt8(ascii: "/") else {
            return -EXDEV
        }
        // Opened with no symlink allowed: a tree changed since realpath() fails.
        return swiftlet_open_resolved(&resolved)
    }

    private func load(_ path: UnsafeRawBufferPointer, hash: Int, now: UInt64, replacing old: CachedFile?) -> Lookup {
        if let old { remove(old) }
        let fd = openBeneath(path)
        guard fd >= 0 else {
            // ENOENT/ENOTDIR: absent. EXDEV (escaping RESOLVE_BENEATH), ELOOP
            // (symlink with RESOLVE_NO_SYMLINKS or O_NOFOLLOW), EACCES: refused.
            return fd == -ENOENT || fd == -ENOTDIR || fd == -ENAMETOOLONG ? .missing : .forbidden
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { return .missing }
        let type = status.st_mode & S_IFMT
        guard type == S_IFREG || type == S_IFDIR else { return .forbidden }
        guard let entry = try? CachedFile(path: Array(path), hash: hash, fd: fd, status: status) else { return .missing }
        entry.validatedAt = now
        entry.lastUsed = useCounter
        // Files larger than the whole cache are served but not kept.
        guard entry.size <= maximumBytes else { return .file(entry) }
        while entryCount >= maximumEntries || (mappedBytes + entry.size > maximumBytes && entryCount > 0) {
            evictLeastRecentlyUsed()
        }
        index.insert(entry)
        mappedBytes += entry.size
        return .file(entry)
    }

    private func remove(_ entry: CachedFile) {
        let before = index.count
        index.remove(entry)
        guard index.count < before else { return }
        mappedBytes -= entry.size
    }

    private func evictLeastRecentlyUsed() {
        var oldest: CachedFile?
        index.forEach { entry in
            if oldest == nil || entry.lastUsed < oldest!.lastUsed { oldest = entry }
        }
        if let oldest { remove(oldest) }
    }
}
