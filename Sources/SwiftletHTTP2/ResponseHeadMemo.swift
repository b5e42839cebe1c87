import Glibc
import SwiftletHPACK
import SwiftletHTTP

/// The last response head a connection encoded, kept so that the next
/// identical head costs a comparison and a copy instead of an HPACK
/// encoding.
///
/// A static file's response head is the same for every response of the
/// file but for its `date`, and `date` stays the same for a second. HPACK
/// encoding (RFC 7541) is a function of the fields and of the encoder's
/// state (`HPACKEncoder.generation`: the dynamic table, pending size
/// updates, Huffman). Once a head's fields are all in the connection's
/// dynamic table or sent without indexing, encoding it changes nothing in
/// that state, and encoding it again at the same generation writes the
/// same bytes and again changes nothing. Such a block is kept here with
/// what it was made of; a head equal in status, shared fields (the same
/// `HTTPFieldList` object: `HTTPFieldList.appendShared`) and own fields
/// (names, values, never-indexed marks) at the same generation replays it.
/// Each connection's table stays exactly as encoding would leave it, so the
/// peer's decoder cannot tell the difference.
///
/// Memory: nothing until a head is kept, then the block and a copy of the
/// own fields, at most `maximumBytes` (a larger head is encoded each time).
struct ResponseHeadMemo {
    static let maximumBytes = 1024

    /// 0: nothing kept.
    private var status = 0
    private var generation: UInt64 = 0
    private var shared: HTTPFieldList?
    private var ownFieldCount = 0
    /// The own fields, each as a `Record` then its name and value bytes,
    /// followed by the block (its last `blockCount` bytes).
    private var bytes: [UInt8] = []
    private var blockCount = 0

    private struct Record {
        var nameLength: UInt32
        /// The value's length; the top bit marks a never-indexed field.
        var valueLengthAndMark: UInt32
        static let neverIndexed: UInt32 = 1 << 31
    }

    /// Appends the kept block to `output` if `status` and `fields` are the
    /// head it was encoded from and the encoder is at the same
    /// `generation`; false (and nothing appended) otherwise.
    func replay(status: Int, fields: HTTPFieldList, generation: UInt64, into output: inout HPACKOutput) -> Bool {
        guard status == self.status, generation == self.generation, fields.sharesFields(with: shared),
              fields.ownCount == ownFieldCount else { return false }
        let sharedCount = fields.count - fields.ownCount
        return bytes.withUnsafeBytes { kept in
            guard let base = kept.baseAddress else { return false }
            var offset = 0
            for index in 0..<ownFieldCount {
                let record = kept.loadUnaligned(fromByteOffset: offset, as: Record.self)
                offset += MemoryLayout<Record>.size
                let field = fields.own(index)
                let mark = fields.isNeverIndexed(sharedCount + index) ? Record.neverIndexed : 0
                guard record.nameLength == UInt32(field.name.count),
                      record.valueLengthAndMark == UInt32(field.value.count) | mark,
                      Self.equal(base + offset, field.name) else { return false }
                offset += field.name.count
                guard Self.equal(base + offset, field.value) else { return false }
                offset += field.value.count
            }
            output.append(UnsafeRawBufferPointer(rebasing: kept[(kept.count - blockCount)...]))
            return true
        }
    }

    /// Keeps `block`, the encoding of `status` and `fields` that left the
    /// encoder at `generation`, where it was when the encoding began.
    mutating func keep(status: Int, fields: HTTPFieldList, generation: UInt64, block: UnsafeRawBufferPointer) {
        let sharedCount = fields.count - fields.ownCount
        var needed = block.count
        for index in 0..<fields.ownCount {
            let field = fields.own(index)
            needed += MemoryLayout<Record>.size + field.name.count + field.value.count
        }
        guard needed <= Self.maximumBytes else { return forget() }
        bytes.removeAll(keepingCapacity: true)
        for index in 0..<fields.ownCount {
            let field = fields.own(index)
            let mark = fields.isNeverIndexed(sharedCount + index) ? Record.neverIndexed : 0
            var record = Record(nameLength: UInt32(field.name.count), valueLengthAndMark: UInt32(field.value.count) | mark)
            withUnsafeBytes(of: &record) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: field.name)
            bytes.append(contentsOf: field.value)
        }
        bytes.append(contentsOf: block)
        blockCount = block.count
        ownFieldCount = fields.ownCount
        shared = fields.shared
        self.generation = generation
        self.status = status
    }

    /// Keeps nothing (and lets go of the shared fields).
    mutating func forget() {
        status = 0
        shared = nil
        ownFieldCount = 0
        blockCount = 0
        bytes.removeAll(keepingCapacity: true)
    }

    @inline(__always)
    private static func equal(_ kept: UnsafeRawPointer, _ field: UnsafeRawBufferPointer) -> Bool {
        field.isEmpty || memcmp(kept, field.baseAddress!, field.count) == 0
    }
}
