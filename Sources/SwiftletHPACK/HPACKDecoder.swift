/// Receives decoded fields, one at a time, during `HPACKDecoder.decode`.
///
/// The spans are valid only during the call (they may point into the header
/// block, the static table, the dynamic table or the decoder's scratch
/// memory); a sink keeps what it needs by copying. A sink never stops the
/// decoder: even a field that makes the request malformed must be decoded,
/// or the dynamic table would go out of step with the peer's.
public protocol HPACKSink {
    mutating func field(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, neverIndexed: Bool)
}

/// Limits a decoder enforces; each breach is a COMPRESSION_ERROR.
public struct HPACKDecoderLimits: Sendable, Equatable {
    /// Decoded list size, counted as RFC 9113 §6.5.2 counts it: name + value
    /// + 32 per field, indexed references included. Bounds an HPACK bomb
    /// (a block of one-byte references to a large dynamic-table entry).
    public var maximumHeaderListSize: Int
    /// Longest encoded string, checked before any Huffman decoding.
    public var maximumStringLength: Int
    /// Most fields in one block.
    public var maximumFieldCount: Int

    public init(maximumHeaderListSize: Int = 64 * 1024, maximumStringLength: Int = 16 * 1024, maximumFieldCount: Int = 256) {
        self.maximumHeaderListSize = maximumHeaderListSize
        self.maximumStringLength = maximumStringLength
        self.maximumFieldCount = maximumFieldCount
    }
}

/// Decodes HPACK header blocks (RFC 7541) of one connection.
///
/// Zero-copy where the format allows: a raw literal is handed to the sink
/// as a span of the block itself, a static entry as constant memory, a
/// dynamic entry as a span of the table. Only Huffman-coded strings are
/// decoded, into scratch memory reused for every field. Nothing is
/// allocated per block.
public final class HPACKDecoder {
    public let limits: HPACKDecoderLimits
    let table: DynamicTable
    /// The SETTINGS_HEADER_TABLE_SIZE the peer has acknowledged.
    private var settingSize: Int
    /// We lowered the setting below the table's size: the next block must
    /// start with a size update (RFC 7541 §4.2).
    private var sizeUpdateRequired = false
    /// Where Huffman-coded strings are decoded; decoders that never run at
    /// the same time (the connections of one loop) can share it.
    private let huffmanScratch: HPACKScratch

    /// - Parameters:
    ///   - headerTableSize: our SETTINGS_HEADER_TABLE_SIZE (the initial and
    ///     the largest table size the peer's encoder may use).
    ///   - scratch: memory for Huffman output, shared by decoders that never
    ///     decode at the same time (a new one if nil).
    public init(headerTableSize: Int = 4096, limits: HPACKDecoderLimits = HPACKDecoderLimits(), scratch: HPACKScratch? = nil) {
        self.limits = limits
        huffmanScratch = scratch ?? HPACKScratch()
        // A peer's first request usually indexes two or three short fields
        // (:path, :authority, user-agent): a first block of 4 descriptors
        // and 128 bytes holds them, and a browser's grows it by doubling.
        table = DynamicTable(limit: headerTableSize, searchable: false, firstSlots: 4, firstBytes: 128)
        settingSize = headerTableSize
    }

    /// The current dynamic table size and maximum (for tests and statistics).
    public var dynamicTableSize: Int { table.size }
    public var dynamicTableMaximumSize: Int { table.maximumSize }
    public var dynamicTableCount: Int { table.count }

    /// Returns to the state right after `init` (empty table, initial size)
    /// without allocating; for replaying recorded blocks in benchmarks.
    public func reset() {
        table.reset(maximumSize: table.limit)
        settingSize = table.limit
        sizeUpdateRequired = false
    }

    /// Applies an acknowledged change of our SETTINGS_HEADER_TABLE_SIZE
    /// (never above the size given at `init`). Lowering it below the current
    /// maximum obliges the peer to start its next block with a size update.
    public func headerTableSizeAcknowledged(_ size: Int) {
        let size = min(size, table.limit)
        settingSize = size
        if size < table.maximumSize { sizeUpdateRequired = true }
    }

    /// Decodes one complete header block (HEADERS plus its CONTINUATIONs).
    public func decode<Sink: HPACKSink>(_ block: UnsafeRawBufferPointer, into sink: inout Sink) throws(HPACKError) {
        var position = 0
        var listSize = 0
        var fieldCount = 0
        var atStart = true
        while position < block.count {
            let first = block[position]
            let name: UnsafeRawBufferPointer
            let value: UnsafeRawBufferPointer
            var insert = false
            var neverIndexed = false
            if first & 0x80 != 0 {
                // §6.1 Indexed Header Field
                let index = try IntegerCoding.decode(block, &position, prefixBits: 7)
                (name, value) = try lookup(index)
            } else if first & 0xC0 == 0x40 {
                // §6.2.1 Literal with Incremental Indexing
                let index = try IntegerCoding.decode(block, &position, prefixBits: 6)
                (name, value) = try readLiteral(block, &position, nameIndex: index)
                insert = true
            } else if first & 0xE0 == 0x20 {
                // §6.3 Dynamic Table Size Update: "MUST occur at the beginning
                // of the first header block following the change" (§4.2).
                guard atStart else { throw .sizeUpdateNotAtStart }
                let size = try IntegerCoding.decode(block, &position, prefixBits: 5)
                // "The new maximum size MUST be lower than or equal to the
                // limit determined by the protocol using HPACK" (§6.3).
                guard size <= settingSize else { throw .sizeUpdateTooLarge(size: size, limit: settingSize) }
                table.setMaximumSize(size)
                sizeUpdateRequired = false
                continue
            } else {
                // §6.2.2 Literal without Indexing (0000) / §6.2.3 Never Indexed (0001)
                neverIndexed = first & 0x10 != 0
                let index = try IntegerCoding.decode(block, &position, prefixBits: 4)
                (name, value) = try readLiteral(block, &position, nameIndex: index)
            }
            if atStart {
                atStart = false
                if sizeUpdateRequired { throw .sizeUpdateMissing }
            }
            fieldCount += 1
            guard fieldCount <= limits.maximumFieldCount else { throw .tooManyFields(limit: limits.maximumFieldCount) }
            listSize += name.count + value.count + 32
            guard listSize <= limits.maximumHeaderListSize else {
                throw .headerListTooLarge(limit: limits.maximumHeaderListSize)
            }
            sink.field(name: name, value: value, neverIndexed: neverIndexed)
            if insert { table.insert(name: name, value: value) }
        }
        if atStart && sizeUpdateRequired && block.count > 0 { throw .sizeUpdateMissing }
    }

    /// Name and value at a combined index (§2.3.3: 1…61 static, then dynamic).
    @inline(__always)
    private func lookup(_ index: Int) throws(HPACKError) -> (name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        if index >= 1 && index <= StaticTable.count { return StaticTable.field(index) }
        let dynamic = index - StaticTable.count - 1
        // "Indices strictly greater than the sum of the lengths of both tables
        // MUST be treated as a decoding error" (§2.3.3); index 0 likewise (§6.1).
        guard index > 0, dynamic < table.count else { throw .invalidIndex(index) }
        return table.field(at: dynamic)
    }

    /// A literal field's name (from the tables when `nameIndex` is not 0)
    /// and value.
    @inline(__always)
    private func readLiteral(_ block: UnsafeRawBufferPointer, _ position: inout Int,
                             nameIndex: Int) throws(HPACKError) -> (name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        guard nameIndex == 0 else { return (try lookup(nameIndex).name, try readString(block, &position, keeping: 0)) }
        let name = try readString(block, &position, keeping: 0)
        // A Huffman-coded name is in the scratch buffer, which the value's
        // decoding keeps but may move.
        let kept = huffmanScratch.buffer.holds(name) ? name.count : 0
        let value = try readString(block, &position, keeping: kept)
        return (kept > 0 ? huffmanScratch.buffer.bytes(kept) : name, value)
    }

    /// A string literal (§5.2): a span of the block, or Huffman-decoded into
    /// the scratch buffer after its first `kept` bytes (which it keeps).
    @inline(__always)
    private func readString(_ block: UnsafeRawBufferPointer, _ position: inout Int, keeping kept: Int) throws(HPACKError) -> UnsafeRawBufferPointer {
        guard position < block.count else { throw .truncated }
        let huffman = block[position] & 0x80 != 0
        let length = try IntegerCoding.decode(block, &position, prefixBits: 7)
        guard length <= limits.maximumStringLength else {
            throw .stringTooLong(length: length, limit: limits.maximumStringLength)
        }
        guard length <= block.count - position else { throw .truncated }
        let encoded = UnsafeRawBufferPointer(rebasing: block[position..<position + length])
        position += length
        guard huffman else { return encoded }
        // On a copy, stored back: growing calls `free`, which Swift cannot
        // see through, and in place that would make it check the scratch
        // field's exclusivity at run time on every string.
        var buffer = huffmanScratch.buffer
        let output = buffer.reserve(Huffman.decodingCapacity(length), keeping: kept)
        huffmanScratch.buffer = buffer
        let count = try Huffman.decode(encoded, into: output)
        return UnsafeRawBufferPointer(start: output, count: count)
    }
}

/// Memory for the Huffman output of HPACK decoders, one buffer for a field's
/// name and value: a decoded name sits at its start and must survive while
/// the value is decoded after it. It grows to the longest field decoded,
/// not to the 2 × 205 KiB the string limit allows.
///
/// The decoded strings a sink gets may point into it, valid during the
/// sink's call only; so decoders that never decode at the same time (the
/// connections of one loop) can share one, and an idle connection holds
/// none and a new one allocates none.
public final class HPACKScratch {
    var buffer = ScratchBuffer()

    public init() {}

    deinit { buffer.deallocate() }
}

/// Memory for Huffman output that grows (by doubling, from 256 bytes) to
/// the largest field and is reused after that: no allocation per block
/// once the decoders using it have seen their longest field.
struct ScratchBuffer {
    private var base: UnsafeMutablePointer<UInt8>?
    private var capacity = 0

    /// At least `count` bytes after the first `kept`, which are kept (moved
    /// if the buffer grows); returns where the `count` bytes start.
    @inline(__always)
    mutating func reserve(_ count: Int, keeping kept: Int) -> UnsafeMutablePointer<UInt8> {
        if let base, kept + count <= capacity { return base + kept }
        return grow(to: kept + count, keeping: kept) + kept
    }

    private mutating func grow(to count: Int, keeping kept: Int) -> UnsafeMutablePointer<UInt8> {
        var size = max(capacity, 256)
        while size < count { size *= 2 }
        let memory = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
        if let base {
            if kept > 0 { memory.update(from: base, count: kept) }
            base.deallocate()
        }
        base = memory
        capacity = size
        return memory
    }

    /// Whether `span` starts at this buffer's start (a decoded name).
    @inline(__always)
    func holds(_ span: UnsafeRawBufferPointer) -> Bool {
        base != nil && span.baseAddress == UnsafeRawPointer(base)
    }

    /// The first `count` bytes.
    @inline(__always)
    func bytes(_ count: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    func deallocate() { base?.deallocate() }
}
