/// Header fields prepared once to be encoded many times (RFC 7541).
///
/// Encoding a field does work that depends only on the field: hashing it,
/// looking it up in the static table (Appendix A), and Huffman-coding its
/// literals (§5.2). A static file's response head is the same for every
/// response of that file, so that work is done here once, and
/// `HPACKEncoder.encode(_:into:)` only does what depends on the connection:
/// searching its dynamic table (by the stored hashes), choosing the
/// representation (§6), and inserting what it indexes. The bytes that go
/// on the wire are exactly those of encoding the fields one by one.
///
/// Immutable once built, and holds only its own memory, so one preparation
/// serves every connection of a loop.
public final class HPACKPreparedFields {
    struct Field {
        var name: Slice
        var value: Slice
        /// The name and value as string literals (§5.2): length prefix, then
        /// the Huffman code, or the raw bytes when that is not longer.
        var nameLiteral: Slice
        var valueLiteral: Slice
        var nameHash: UInt32
        var fieldHash: UInt32
        /// Static table indexes (0: none).
        var staticName: Int32
        var staticFull: Int32
        var indexing: HPACKIndexing
    }

    struct Slice {
        var offset: Int32
        var count: Int32
    }

    /// Collects fields to prepare; names are lowercased as they are added.
    public struct Builder {
        var bytes: [UInt8] = []
        var fields: [Field] = []

        public init() {}

        /// Adds a field. Uppercase ASCII letters of `name` are lowercased
        /// (HTTP/2 field names are lowercase, RFC 9113 §8.2.1).
        public mutating func append(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, indexing: HPACKIndexing) {
            let lowered = name.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }
            lowered.withUnsafeBytes { name in
                let nameHash = FieldHash.hash(name)
                let (staticName, staticFull) = StaticTable.find(name: name, value: value, nameHash: nameHash)
                fields.append(Field(name: add(name), value: add(value),
                                    nameLiteral: addLiteral(name), valueLiteral: addLiteral(value),
                                    nameHash: nameHash, fieldHash: FieldHash.hash(name: name, value: value),
                                    staticName: Int32(staticName ?? 0), staticFull: Int32(staticFull ?? 0),
                                    indexing: indexing))
            }
        }

        private mutating func add(_ source: UnsafeRawBufferPointer) -> Slice {
            let offset = bytes.count
            bytes.append(contentsOf: source)
            return Slice(offset: Int32(offset), count: Int32(source.count))
        }

        /// The §5.2 literal of `string`, as `HPACKEncoder` writes it.
        private mutating func addLiteral(_ string: UnsafeRawBufferPointer) -> Slice {
            var output = HPACKOutput(capacity: string.count + 8)
            HPACKEncoder.writeString(string, huffman: true, into: &output)
            return add(output.bytes)
        }
    }

    private let storage: UnsafeMutableRawBufferPointer
    private let entries: UnsafeMutableBufferPointer<Field>

    public init(_ builder: Builder) {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(builder.bytes.count, 1), alignment: 1)
        builder.bytes.withUnsafeBytes { storage.copyMemory(from: $0) }
        self.storage = storage
        entries = .allocate(capacity: builder.fields.count)
        _ = entries.initialize(from: builder.fields)
    }

    deinit {
        storage.deallocate()
        entries.deallocate()
    }

    /// Fields prepared.
    public var count: Int { entries.count }

    @inline(__always)
    func field(_ index: Int) -> Field { entries[index] }

    @inline(__always)
    func bytes(_ slice: Slice) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: storage.baseAddress! + Int(slice.offset), count: Int(slice.count))
    }

    /// Name and value of field `index` (the name lowercased).
    public subscript(index: Int) -> (name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let field = entries[index]
        return (bytes(field.name), bytes(field.value))
    }
}
