import SwiftletLoop

/// Which bytes a compressed body was made from, and how: a file version
/// (device, inode, size, modification time) and a coding at a level.
public struct CompressionKey: Hashable, Sendable {
    let device: UInt64
    let inode: UInt64
    let size: Int
    let modified: Int
    let modifiedNanoseconds: Int
    let coding: ContentCoding
    let level: Int

    init(_ file: CachedFile, coding: ContentCoding, level: Int) {
        self.init(device: file.device, inode: file.inode, size: file.size, modified: file.modified,
                  modifiedNanoseconds: file.modifiedNanoseconds, coding: coding, level: level)
    }

    init(device: UInt64, inode: UInt64, size: Int, modified: Int, modifiedNanoseconds: Int, coding: ContentCoding, level: Int) {
        self.device = device
        self.inode = inode
        self.size = size
        self.modified = modified
        self.modifiedNanoseconds = modifiedNanoseconds
        self.coding = coding
        self.level = level
    }

    /// One combine of the fields that tell versions apart (equality still
    /// compares them all): the lookup is on every compressed response.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(inode &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: modifiedNanoseconds &+ modified << 30)
                       ^ UInt64(truncatingIfNeeded: size << 8 | coding.index << 4 | level))
    }
}

/// Compressed files, shared by every loop of a server, so that a hot file
/// is compressed once per version and coding however many loops and
/// connections ask for it.
///
/// Bounded in bytes (`maximumBytes`, the compressed sizes plus a small
/// charge per entry), least recently used first out. A file whose
/// compressed form would not be smaller is remembered as incompressible
/// (so it is not tried again). A changed file is a new key: its old
/// bodies are never served again and age out.
///
/// While one loop compresses a file, the others asking for the same key
/// wait instead of compressing it again: `claim` either hands the work to
/// the caller or parks a `Waiter`, and `finish` stores the outcome and
/// resumes every waiter on its own loop (through `EventLoop.execute`).
public final class CompressionCache: Sendable {
    /// What the cache knows of a key.
    public enum Lookup {
        case ready(CompressedBody)
        case incompressible
        /// Not compressed yet (or evicted), or being compressed.
        case absent
    }

    /// The answer to `claim`.
    enum Claim {
        case ready(CompressedBody)
        case incompressible
        /// The caller compresses the file, then calls `finish`.
        case claimed
        /// Another caller is compressing it; the waiter runs when it is done.
        case waiting
    }

    /// A response waiting for a compression: `resume` runs on `loop` with
    /// the body (nil: serve the file uncompressed). Created on its loop and
    /// resumed there; it only passes through the cache (hence unchecked).
    final class Waiter: @unchecked Sendable {
        let loop: EventLoop
        let resume: (CompressedBody?) -> Void

        init(loop: EventLoop, resume: @escaping (CompressedBody?) -> Void) {
            self.loop = loop
            self.resume = resume
        }
    }

    /// Counters since the cache was made.
    public struct Statistics: Sendable, Equatable {
        /// Files compressed (smaller output stored).
        public var compressions = 0
        /// Files found not worth compressing.
        public var incompressible = 0
        /// Compressions that failed or whose file changed under them.
        public var failures = 0
        /// Lookups answered with a stored body or an incompressible mark.
        public var hits = 0
        /// Entries dropped to stay within `maximumBytes`.
        public var evictions = 0
        /// Bytes held now (compressed sizes plus the per-entry charge).
        public var bytes = 0
        /// Entries held now.
        public var entries = 0

        public init() {}
    }

    /// What an entry costs beyond its bytes (the node, the key, the
    /// table slot): keeps a cache full of tiny or incompressible files bounded.
    static let entryOverhead = 128

    public let maximumBytes: Int
    private let state: Locked<State>

    public init(maximumBytes: Int) {
        self.maximumBytes = maximumBytes
        state = Locked(State())
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// The stored outcome for `key`, marking it recently used.
    public func lookup(_ key: CompressionKey) -> Lookup {
        state.withLock { state in
            guard let node = state.entries[key] else { return .absent }
            state.touch(node)
            state.statistics.hits += 1
            return node.body.map(Lookup.ready) ?? .incompressible
        }
    }

    /// The stored outcome for `key`; else the work of compressing it
    /// (`.claimed`: call `finish`); else, while another caller compresses
    /// it, `waiter` parked until `finish`.
    func claim(_ key: CompressionKey, waiter: Waiter) -> Claim {
        state.withLock { state in
            if let node = state.entries[key] {
                state.touch(node)
                state.statistics.hits += 1
                return node.body.map(Claim.ready) ?? .incompressible
            }
            if state.pending[key] != nil {
                state.pending[key]!.append(waiter)
                return .waiting
            }
            state.pending[key] = [waiter]
            return .claimed
        }
    }

    /// Stores what compressing `key` produced (`.failed` is not stored: the
    /// next request tries again) and resumes the key's waiters.
    func finish(_ key: CompressionKey, outcome: Compressor.Outcome) {
        let (waiters, body): ([Waiter], CompressedBody?) = state.withLock { state in
            let waiters = state.pending.removeValue(forKey: key) ?? []
            switch outcome {
            case .compressed(let body):
                state.statistics.compressions += 1
                state.insert(key, body: body, maximumBytes: maximumBytes)
                return (waiters, body)
            case .incompressible:
                state.statistics.incompressible += 1
                state.insert(key, body: nil, maximumBytes: maximumBytes)
                return (waiters, nil)
            case .failed:
                state.statistics.failures += 1
                return (waiters, nil)
            }
        }
        for waiter in waiters {
            waiter.loop.execute { waiter.resume(body) }
        }
    }

    /// Keys being compressed now (for tests).
    var pendingCount: Int { state.withLock { $0.pending.count } }

    /// An entry, on the recency list (most recent at `head`).
    private final class Node {
        let key: CompressionKey
        let body: CompressedBody?  // nil: incompressible
        let cost: Int
        var newer: Node?
        var older: Node?

        init(key: CompressionKey, body: CompressedBody?) {
            self.key = key
            self.body = body
            cost = (body?.count ?? 0) + CompressionCache.entryOverhead
        }
    }

    private struct State {
        var entries: [CompressionKey: Node] = [:]
        var pending: [CompressionKey: [Waiter]] = [:]
        var head: Node?  // most recently used
        var tail: Node?  // least recently used
        var statistics = Statistics()

        mutating func insert(_ key: CompressionKey, body: CompressedBody?, maximumBytes: Int) {
            let node = Node(key: key, body: body)
            // An entry larger than the whole cache is served to its waiters, not kept.
            guard node.cost <= maximumBytes else { return }
            if let old = entries[key] { remove(old) }
            while statistics.bytes + node.cost > maximumBytes, let oldest = tail {
                remove(oldest)
                statistics.evictions += 1
            }
            entries[key] = node
            statistics.bytes += node.cost
            statistics.entries += 1
            pushFront(node)
        }

        mutating func touch(_ node: Node) {
            guard head !== node else { return }
            unlink(node)
            pushFront(node)
        }

        private mutating func remove(_ node: Node) {
            unlink(node)
            entries[node.key] = nil
            statistics.bytes -= node.cost
            statistics.entries -= 1
        }

        private mutating func pushFront(_ node: Node) {
            node.older = head
            node.newer = nil
            head?.newer = node
            head = node
            if tail == nil { tail = node }
        }

        private mutating func unlink(_ node: Node) {
            if let newer = node.newer { newer.older = node.older } else { head = node.older }
            if let older = node.older { older.newer = node.newer } else { tail = node.newer }
            node.newer = nil
            node.older = nil
        }
    }
}
