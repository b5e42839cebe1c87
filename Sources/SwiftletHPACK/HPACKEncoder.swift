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
        set { useHuffman = newValue }
    }

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
    }

    /// Starts a header block: writes pending size updates.
    public func beginBlock(into output: inout HPACKOutput) {
        if let minimum = pendingMinimum, let final = pendingFinal {
            if minimum < final { IntegerCoding.encode(minimum, prefixBits: 5, flags: 0x20, into: &output) }
            IntegerCoding.encode(final, prefixBits: 5, flags: 0x20, into: &output)
            pendingMinimum = nil
            pendingFinal = nil
        }
    }

    /// Appends one field. `name` must be lowercase.
    public func encode(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, indexing: HPACKIndexing,
                       into output: inout HPACKOutput) {
        let nameHash = FieldHash.hash(name)
        let (staticName, staticFull) = StaticTable.find(name: name, value: value, nameHash: nameHash)
        // RFC 7541 §6.2.3: "An intermediary MUST NOT re-encode a value that
        // uses the never-indexed literal representation with another
        // representation that would index it." An indexed field loses the
        // never-indexed mark, so `.never` is always a literal, even for a
        // field the static table holds whole (found by fuzzing).
        if let full = staticFull, indexing != .never {
            IntegerCoding.encode(full, prefixBits: 7, flags: 0x80, into: &output)
            return
        }
        // Our table holds only what we indexed, so a field we do not index
        // whose name is static cannot match it: skip the search.
        let searchTable = indexing == .incremental || (indexing == .none && staticName == nil)
        let fieldHash = searchTable || indexing == .incremental ? FieldHash.hash(name: name, value: value) : 0
        var dynamicName: Int?
        if searchTable {
            for index in 0..<table.count {
                let hashes = table.hashes(at: index)
                if hashes.field == fieldHash {
                    let entry = table.field(at: index)
                    if equal(entry.name, name) && equal(entry.value, value) {
                        IntegerCoding.encode(StaticTable.count + 1 + index, prefixBits: 7, flags: 0x80, into: &output)
                        return
                    }
                }
                if dynamicName == nil, staticName == nil, hashes.name == nameHash, equal(table.field(at: index).name, name) {
                    dynamicName = index
                }
            }
        }
        let nameIndex = staticName ?? dynamicName.map { StaticTable.count + 1 + $0 } ?? 0
        switch indexing {
        case .incremental: IntegerCoding.encode(nameIndex, prefixBits: 6, flags: 0x40, into: &output)
        case .none: IntegerCoding.encode(nameIndex, prefixBits: 4, flags: 0x00, into: &output)
        case .never: IntegerCoding.encode(nameIndex, prefixBits: 4, flags: 0x10, into: &output)
        }
        if nameIndex == 0 { writeString(name, into: &output) }
        writeString(value, into: &output)
        if indexing == .incremental {
            table.insert(name: name, value: value, nameHash: nameHash, fieldHash: fieldHash)
        }
    }

    /// A string literal (§5.2), Huffman-coded unless that is longer.
    private func writeString(_ bytes: UnsafeRawBufferPointer, into output: inout HPACKOutput) {
        if useHuffman {
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
