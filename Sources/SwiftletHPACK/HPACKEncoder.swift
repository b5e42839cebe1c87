/// How a field may enter the dynamic table (RFC 7541 §6.2).
public enum HPACKIndexing: Sendable {
    /// Add it, so repeats cost one byte (§6.2.1).
    case incremental
    /// Do not add it (§6.2.2): values that change every time.
    case none
    /// Never add it, here or at any intermediary (§6.2.3): secrets.
    case never
}

/// Encodes header blocks (RFC 7541) for one connection's responses.
///
/// Full matches in the static or dynamic table become one-byte indexed
/// fields; otherwise the name is referenced by index when possible and the
/// value is a literal, Huffman-coded unless that is longer. Fields encoded
/// with `.incremental` are added to the dynamic table, so a response header
/// repeated on every response (server, content-type, cache-control, vary)
/// costs one byte after its first use.
public final class HPACKEncoder {
    let table: DynamicTable
    /// Table size changes to announce at the start of the next block (§4.2:
    /// the smallest size since the last block first, then the final one).
    private var pendingMinimum: Int?
    private var pendingFinal: Int?
    var useHuffman = true
    /// Use Huffman coding unless it is longer.
    public var huffman: Bool {
        get { useHuffman }
        set {
            if newValue != useHuffman { changes &+= 1 }
            useHuffman = newValue
        }
    }

    /// Names the encoder's state: it changes whenever the bytes this
    /// encoder writes for given fields could change (an entry enters or
    /// leaves the dynamic table, its maximum size changes, a size update is
    /// pending or written, Huffman coding is switched). Encoding is a
    /// function of the fields and this state, so at an equal generation the
    /// same fields encode to the same bytes; and a block whose encoding
    /// left the generation as it was leaves it so again
    /// (`ResponseHeadMemo` in SwiftletHTTP2 replays such blocks).
    public var generation: UInt64 { changes }
    // Read through the getter above, inside this module, where no access to
    // it can overlap another: a stored property read from another module
    // would be checked for exclusivity at run time on every response.
    private var changes: UInt64 = 0

    /// - Parameter maximumTableSize: the most table memory this encoder
    ///   will use, whatever the peer allows.
    public init(maximumTableSize: Int = 4096) {
        table = DynamicTable(limit: maximumTableSize)
        // RFC 7541 starts both sides at 4096; until the peer's SETTINGS say
        // otherwise, use no more than that.
        table.setMaximumSize(min(4096, maximumTableSize))
    }

    public var dynamicTableSize: Int { table.size }
    public var dynamicTableMaximumSize: Int { table.maximumSize }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed: use min(it, our cap)
    /// and announce the change in the next block.
    public func setPeerHeaderTableSize(_ size: Int) {
        let newSize = min(size, table.limit)
        guard newSize != table.maximumSize || pendingFinal != nil else { return }
        pendingMinimum = min(pendingMinimum ?? newSize, newSize)
        pendingFinal = newSize
        table.setMaximumSize(newSize)
        changes &+= 1
    }

    /// Starts a header block: writes pending size updates.
    public func beginBlock(into output: inout HPACKOutput) {
        if let minimum = pendingMinimum, let final = pendingFinal {
            if minimum < final { IntegerCoding.encode(minimum, prefixBits: 5, flags: 0x20, into: &output) }
            IntegerCoding.encode(final, prefixBits: 5, flags: 0x20, into: &output)
            pendingMinimum = nil
            pendingFinal = nil
            changes &+= 1
        }
    }

    /// Appends one field. `name` must be lowercase.
    public func encode(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, indexing: HPACKIndexing,
                       into output: inout HPACKOutput) {
        let nameHash = FieldHash.hash(name)
        let (staticName, staticFull) = StaticTable.find(name: name, value: value, nameHash: nameHash)
        // Only a search of our table or an insert needs the field's hash.
        let needsFieldHash = indexing == .incremental || (indexing == .none && staticName == nil)
        emit(name: name, value: value, nameHash: nameHash,
             fieldHash: needsFieldHash ? FieldHash.hash(name: name, value: value) : 0,
             staticName: staticName ?? 0, staticFull: staticFull ?? 0, indexing: indexing,
             nameLiteral: nil, valueLiteral: nil, into: &output)
    }

    /// Appends prepared fields: the same bytes as encoding them one by one,
    /// without redoing the work that depends only on the fields.
    public func encode(_ prepared: HPACKPreparedFields, into output: inout HPACKOutput) {
        for index in 0..<prepared.count {
            let field = prepared.field(index)
            emit(name: prepared.bytes(field.name), value: prepared.bytes(field.value),
                 nameHash: field.nameHash, fieldHash: field.fieldHash,
                 staticName: Int(field.staticName), staticFull: Int(field.staticFull), indexing: field.indexing,
                 nameLiteral: useHuffman ? prepared.bytes(field.nameLiteral) : nil,
                 valueLiteral: useHuffman ? prepared.bytes(field.valueLiteral) : nil, into: &output)
        }
    }

    /// Chooses a field's representation (§6) against the static table
    /// indexes found for it (0: none) and our dynamic table, writes it, and
    /// indexes it if asked. The literals, when given, are the name's and
    /// value's §5.2 strings as `writeString` would write them.
    @inline(__always)
    private func emit(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, nameHash: UInt32, fieldHash: UInt32,
                      staticName: Int, staticFull: Int, indexing: HPACKIndexing,
                      nameLiteral: UnsafeRawBufferPointer?, valueLiteral: UnsafeRawBufferPointer?,
                      into output: inout HPACKOutput) {
        // RFC 7541 §6.2.3: "An intermediary MUST NOT re-encode a value that
        // uses the never-indexed literal representation with another
        // representation that would index it." An indexed field loses the
        // never-indexed mark, so `.never` is always a literal, even for a
        // field the static table holds whole (found by fuzzing).
        if staticFull != 0, indexing != .never {
            IntegerCoding.encode(staticFull, prefixBits: 7, flags: 0x80, into: &output)
            return
        }
        // Our table holds only what we indexed, so a field we do not index
        // whose name is static cannot match it: skip the search.
        let searchTable = indexing == .incremental || (indexing == .none && staticName == 0)
        var dynamicName = 0
        if searchTable {
            let found = table.find(name: name, value: value, nameHash: nameHash, fieldHash: fieldHash,
                                   wantsName: staticName == 0)
            if let full = found.full {
                IntegerCoding.encode(StaticTable.count + 1 + full, prefixBits: 7, flags: 0x80, into: &output)
                return
            }
            if let nameOnly = found.name { dynamicName = StaticTable.count + 1 + nameOnly }
        }
        let nameIndex = staticName != 0 ? staticName : dynamicName
        switch indexing {
        case .incremental: IntegerCoding.encode(nameIndex, prefixBits: 6, flags: 0x40, into: &output)
        case .none: IntegerCoding.encode(nameIndex, prefixBits: 4, flags: 0x00, into: &output)
        case .never: IntegerCoding.encode(nameIndex, prefixBits: 4, flags: 0x10, into: &output)
        }
        if nameIndex == 0 {
            if let nameLiteral { output.append(nameLiteral) } else { Self.writeString(name, huffman: useHuffman, into: &output) }
        }
        if let valueLiteral { output.append(valueLiteral) } else { Self.writeString(value, huffman: useHuffman, into: &output) }
        if indexing == .incremental {
            table.insert(name: name, value: value, nameHash: nameHash, fieldHash: fieldHash)
            changes &+= 1
        }
    }

    /// A string literal (§5.2), Huffman-coded unless that is longer.
    static func writeString(_ bytes: UnsafeRawBufferPointer, huffman: Bool, into output: inout HPACKOutput) {
        if huffman {
            let length = Huffman.encodedLength(bytes)
            if length <= bytes.count {  // as RFC 7541 C.6 does at equal length
                IntegerCoding.encode(length, prefixBits: 7, flags: 0x80, into: &output)
                Huffman.encode(bytes, into: output.reserve(length))
                return
            }
        }
        IntegerCoding.encode(bytes.count, prefixBits: 7, flags: 0x00, into: &output)
        output.append(bytes)
    }
}
