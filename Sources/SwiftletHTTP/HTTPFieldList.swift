import Glibc

/// An ordered list of header fields stored in one byte buffer.
///
/// Names and values are byte spans; nothing is a `String` unless asked for.
/// Pooled with its stream or connection and cleared with `removeAll()`, so
/// once warm it allocates nothing per request. Field names are kept as
/// given (HTTP/2 delivers them lowercase; HTTP/1.1 parsing lowercases them).
///
/// **Shared fields.** A list can start with another, unchanging list by
/// reference (`appendShared`): a static file's response head, apart from
/// its date, is the same for every response, so it is built once and each
/// response refers to it instead of copying it. Indexes, `count` and lookups
/// see the shared fields first, then the list's own. The shared list keeps
/// what a protocol derived from it (`encodingCache`: HTTP/2 keeps the
/// fields' HPACK preparation there), dropped whenever the list changes.
public final class HTTPFieldList {
    struct Entry {
        var nameOffset: Int32
        var nameLength: Int32
        var valueOffset: Int32
        var valueLength: Int32
        /// RFC 7541 §6.2.3: the field must never enter a compression table.
        var neverIndexed: Bool
    }

    private var storage: UnsafeMutablePointer<UInt8>
    private var storageCapacity: Int
    private var storageUsed = 0
    private var entries: UnsafeMutablePointer<Entry>
    private var entryCapacity: Int
    private var entryCount = 0
    /// Fields shared with other lists, seen before this list's own.
    private var sharedFields: HTTPFieldList?
    private var sharedCount = 0
    /// One bit per field name present (`nameBit`), this list's own and
    /// its shared list's: a lookup of a name whose bit is clear needs no
    /// scan. Most lookups on the request path are of absent fields (range,
    /// conditionals, priority, host over HTTP/2).
    private var nameBits: UInt64 = 0
    private var cache: AnyObject?

    public init(byteCapacity: Int = 512, fieldCapacity: Int = 16) {
        storageCapacity = max(byteCapacity, 64)
        storage = .allocate(capacity: storageCapacity)
        entryCapacity = max(fieldCapacity, 4)
        entries = .allocate(capacity: entryCapacity)
    }

    deinit {
        storage.deallocate()
        entries.deallocate()
    }

    /// Fields held, shared ones included.
    public var count: Int { sharedCount + entryCount }
    public var isEmpty: Bool { count == 0 }
    /// Bytes of names and values held (shared ones included).
    public var byteCount: Int { (sharedFields?.byteCount ?? 0) + storageUsed }

    /// Forgets every field, keeping the memory.
    public func removeAll() {
        storageUsed = 0
        entryCount = 0
        nameBits = 0
        if sharedFields != nil {
            sharedFields = nil
            sharedCount = 0
        }
        dropCache()
    }

    /// Adds `shared`'s fields by reference: they are not copied, and
    /// `shared` must not change while this list refers to it. Only an empty
    /// list can refer; on a list that already has fields (or to a list that
    /// itself refers to another) the fields are copied instead. Takes the
    /// caller's reference (`consuming`): a head fetched for this call is
    /// stored without a retain of its own.
    public func appendShared(_ shared: consuming HTTPFieldList) {
        guard count == 0, shared.sharedFields == nil else {
            for index in 0..<shared.count {
                let field = shared[index]
                append(name: field.name, value: field.value, neverIndexed: shared.isNeverIndexed(index))
            }
            return
        }
        sharedCount = shared.entryCount
        nameBits = shared.nameBits
        sharedFields = shared  // the last use: moved in, not copied
        dropCache()
    }

    /// The shared fields this list starts with, if any (`appendShared`).
    public var shared: HTTPFieldList? { sharedFields }

    /// Whether the shared fields are `list` (the same object), without
    /// taking a reference to them.
    public func sharesFields(with list: HTTPFieldList?) -> Bool { sharedFields === list }

    /// The address of the shared list (0 for none), to tell lists apart
    /// without taking a reference.
    public var sharedFieldsAddress: UInt {
        guard let sharedFields else { return 0 }
        return UInt(bitPattern: Unmanaged.passUnretained(sharedFields).toOpaque())
    }
    /// Fields of this list's own, after the shared ones.
    public var ownCount: Int { entryCount }

    /// What a protocol derived from these fields (HTTP/2: their HPACK
    /// preparation), kept until the fields change.
    public var encodingCache: AnyObject? {
        get { cache }
        set { cache = newValue }
    }

    @inline(__always)
    private func dropCache() {
        if cache != nil { cache = nil }
    }

    /// Appends a field (copies both spans). `neverIndexed` marks a value
    /// that must never enter an HPACK table (RFC 7541 §6.2.3: "a value to
    /// be protected by not compressing it", such as a short secret token):
    /// HTTP/2 sends it as a never-indexed literal, and fields that arrived
    /// that way carry the mark.
    public func append(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, neverIndexed: Bool = false) {
        dropCache()
        nameBits |= Self.nameBit(name)
        let nameCount = name.count, valueCount = value.count
        // `growStorage` keeps every offset and length within Int32, so the
        // arithmetic below cannot overflow and the narrowing is exact.
        if storageUsed &+ nameCount &+ valueCount > storageCapacity { growStorage(storageUsed + nameCount + valueCount) }
        if entryCount == entryCapacity { growEntries() }
        let nameOffset = storageUsed
        let valueOffset = nameOffset &+ nameCount
        let bytes = UnsafeMutableRawPointer(storage)
        if nameCount > 0 { (bytes + nameOffset).copyMemory(from: name.baseAddress!, byteCount: nameCount) }
        if valueCount > 0 { (bytes + valueOffset).copyMemory(from: value.baseAddress!, byteCount: valueCount) }
        storageUsed = valueOffset &+ valueCount
        entries[entryCount] = Entry(nameOffset: Int32(truncatingIfNeeded: nameOffset), nameLength: Int32(truncatingIfNeeded: nameCount),
                                    valueOffset: Int32(truncatingIfNeeded: valueOffset),
                                    valueLength: Int32(truncatingIfNeeded: valueCount), neverIndexed: neverIndexed)
        entryCount &+= 1
    }

    /// Appends a field given as static strings (no allocation).
    public func append(_ name: StaticString, _ value: StaticString) {
        append(name: Self.span(name), value: Self.span(value))
    }

    /// Appends a field whose value is a `String` (the UTF-8 bytes are copied).
    public func append(_ name: StaticString, _ value: String) {
        var value = value
        value.withUTF8 { append(name: Self.span(name), value: UnsafeRawBufferPointer($0)) }
    }

    /// Appends a field given as strings (for callers that already have them).
    public func append(name: String, value: String) {
        var name = name
        var value = value
        name.withUTF8 { n in value.withUTF8 { v in append(name: UnsafeRawBufferPointer(n), value: UnsafeRawBufferPointer(v)) } }
    }

    /// Appends `name: <decimal>` without allocating.
    public func append(_ name: StaticString, integer: Int) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch
        withUnsafeMutableBytes(of: &digits) { buffer in
            let length = Self.formatDecimal(integer, into: buffer)
            append(name: Self.span(name), value: UnsafeRawBufferPointer(rebasing: buffer[(buffer.count - length)...]))
        }
    }

    /// Name and value of field `index` (shared fields first), valid until
    /// the fields change.
    public subscript(index: Int) -> (name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        if index < sharedCount, let sharedFields { return sharedFields[index] }
        return own(index - sharedCount)
    }

    /// Name and value of this list's own field `index` (after the shared ones).
    public func own(_ index: Int) -> (name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        precondition(index >= 0 && index < entryCount)
        let entry = entries[index]
        return (UnsafeRawBufferPointer(start: storage + Int(entry.nameOffset), count: Int(entry.nameLength)),
                UnsafeRawBufferPointer(start: storage + Int(entry.valueOffset), count: Int(entry.valueLength)))
    }

    /// Whether field `index` must never be indexed (RFC 7541 §6.2.3).
    public func isNeverIndexed(_ index: Int) -> Bool {
        if index < sharedCount, let sharedFields { return sharedFields.isNeverIndexed(index) }
        precondition(index - sharedCount >= 0 && index - sharedCount < entryCount)
        return entries[index - sharedCount].neverIndexed
    }

    /// The value of the first field named `name` (exact bytes; names are lowercase).
    public func first(_ name: StaticString) -> UnsafeRawBufferPointer? {
        first(name: Self.span(name))
    }

    public func first(name: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard nameBits & Self.nameBit(name) != 0 else { return nil }
        if let sharedFields, let found = sharedFields.first(name: name) { return found }
        // The own entries directly: a length test skips most.
        let length = Int32(truncatingIfNeeded: name.count)
        for index in 0..<entryCount {
            let entry = entries[index]
            guard entry.nameLength == length else { continue }
            let candidate = UnsafeRawBufferPointer(start: storage + Int(entry.nameOffset), count: Int(entry.nameLength))
            if Self.equal(candidate, name) {
                return UnsafeRawBufferPointer(start: storage + Int(entry.valueOffset), count: Int(entry.valueLength))
            }
        }
        return nil
    }

    /// Whether any field named `name` lists `element` (RFC 9110 §5.6.1 list
    /// elements, compared without case: connection options, upgrade
    /// protocols, codings). Several lines of one field are one list (§5.3).
    public func listContains(_ name: StaticString, element: UnsafeRawBufferPointer) -> Bool {
        let name = Self.span(name)
        guard nameBits & Self.nameBit(name) != 0 else { return false }
        var found = false
        for index in 0..<count where !found {
            let field = self[index]
            guard Self.equal(field.name, name) else { continue }
            ASCII.forEachListElement(field.value) { if ASCII.equalIgnoringCase($0, element) { found = true } }
        }
        return found
    }

    /// The first value of `name` as a String (allocates; for convenience).
    public func value(of name: String) -> String? {
        var name = name.lowercased()
        return name.withUTF8 { n in first(name: UnsafeRawBufferPointer(n)).map { String(decoding: $0, as: UTF8.self) } }
    }

    /// Every field as strings (allocates; for logging and tests).
    public var strings: [(name: String, value: String)] {
        (0..<count).map { index in
            let field = self[index]
            return (String(decoding: field.name, as: UTF8.self), String(decoding: field.value, as: UTF8.self))
        }
    }

    // MARK: helpers

    /// A name's bit in `nameBits`: from its length and its first and last
    /// bytes (names that share them share a bit; a set bit only means
    /// "maybe").
    @inline(__always)
    static func nameBit(_ name: UnsafeRawBufferPointer) -> UInt64 {
        guard let start = name.baseAddress, name.count > 0 else { return 1 }
        let mix = UInt64(name.count) &* 0x9E37_79B9 ^ UInt64(start.load(as: UInt8.self)) &* 0x85EB_CA6B
            ^ UInt64(start.load(fromByteOffset: name.count - 1, as: UInt8.self)) &* 0xC2B2_AE35
        return 1 << ((mix ^ (mix >> 17)) & 63)
    }

    @inline(__always)
    public static func span(_ string: StaticString) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: string.utf8Start, count: string.utf8CodeUnitCount)
    }

    @inline(__always)
    /// The connection-specific fields (RFC 9110 §7.6.1, RFC 9113 §8.2.2):
    /// `connection`, `keep-alive`, `proxy-connection`, `transfer-encoding`,
    /// `upgrade` (lowercase). HTTP/2 treats a request carrying one as
    /// malformed; both protocols drop them from a handler's response fields,
    /// since the connection decides them.
    public static func isConnectionSpecific(_ name: UnsafeRawBufferPointer) -> Bool {
        switch name.count {
        case 7: equal(name, span("upgrade"))
        case 10: equal(name, span("connection")) || equal(name, span("keep-alive"))
        case 16: equal(name, span("proxy-connection"))
        case 17: equal(name, span("transfer-encoding"))
        default: false
        }
    }

    /// Inlinable: the length test, inline, spares most calls on the request
    /// path. Up to 16 bytes (field names, methods, schemes) are compared as
    /// two overlapping words, not with a call to `memcmp`.
    @inlinable @inline(__always)
    public static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        let count = a.count
        guard count == b.count else { return false }
        guard count > 0, let x = a.baseAddress, let y = b.baseAddress else { return true }
        switch count {
        case 8...16:
            return x.loadUnaligned(as: UInt64.self) == y.loadUnaligned(as: UInt64.self)
                && x.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self) == y.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
        case 4..<8:
            return x.loadUnaligned(as: UInt32.self) == y.loadUnaligned(as: UInt32.self)
                && x.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self) == y.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
        case 1..<4:
            return x.load(as: UInt8.self) == y.load(as: UInt8.self)
                && x.load(fromByteOffset: count / 2, as: UInt8.self) == y.load(fromByteOffset: count / 2, as: UInt8.self)
                && x.load(fromByteOffset: count - 1, as: UInt8.self) == y.load(fromByteOffset: count - 1, as: UInt8.self)
        default:
            return memcmp(x, y, count) == 0
        }
    }

    /// Writes `value` in decimal at the end of `buffer`; returns the digit count.
    public static func formatDecimal(_ value: Int, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        var rest = value.magnitude
        var position = buffer.count
        repeat {
            position -= 1
            buffer[position] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        } while rest > 0
        if value < 0 {
            position -= 1
            buffer[position] = UInt8(ascii: "-")
        }
        return buffer.count - position
    }

    private func growStorage(_ needed: Int) {
        // Offsets are stored as Int32 (`Entry`).
        precondition(needed <= Int(Int32.max), "HTTPFieldList larger than 2 GiB")
        var capacity = storageCapacity * 2
        while capacity < needed { capacity *= 2 }
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        bigger.update(from: storage, count: storageUsed)
        storage.deallocate()
        storage = bigger
        storageCapacity = capacity
    }

    private func growEntries() {
        let bigger = UnsafeMutablePointer<Entry>.allocate(capacity: entryCapacity * 2)
        bigger.update(from: entries, count: entryCount)
        entries.deallocate()
        entries = bigger
        entryCapacity *= 2
    }
}
