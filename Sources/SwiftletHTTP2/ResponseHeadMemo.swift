import Glibc
import SwiftletHPACK
import SwiftletHTTP

/// Response heads a connection encoded, kept so that the next identical
/// head costs a comparison and a copy instead of an HPACK encoding.
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
/// One head is kept per shared field list, in `slotCount` slots chosen by
/// the list's address (direct-mapped: a page's files each have a slot, two
/// files that share one take turns).
///
/// Memory: nothing until a second head could be kept (a connection that
/// answers once, or never repeats itself, pays nothing); then the slots,
/// and per slot the block and a copy of the own fields, at most
/// `maximumBytes` (a larger head is encoded each time).
struct ResponseHeadMemo {
    static let maximumBytes = 1024
    static let slotCount = 64

    /// Owns the slots' memory and the shared lists they were made with.
    private var storage: Storage?
    /// Heads that could have been kept before there was storage.
    private var candidates = 0
    /// `storage`'s slots: plain values read through a pointer, so a replay
    /// takes no reference (a slot holding a class reference or an array
    /// would be retained and released on every look).
    private var slots: UnsafeMutablePointer<Slot>?

    /// Appends the kept block to `output` if `status` and `fields` are the
    /// head it was encoded from and the encoder is at the same
    /// `generation`; false (and nothing appended) otherwise.
    func replay(status: Int, fields: HTTPFieldList, generation: UInt64, into output: inout HPACKOutput) -> Bool {
        guard let slots else { return false }
        let address = fields.sharedFieldsAddress
        return (slots + Self.slot(forAddress: address)).pointee.replay(status: status, fields: fields, sharedAddress: address,
                                                                      generation: generation, into: &output)
    }

    /// Keeps `block`, the encoding of `status` and `fields` that left the
    /// encoder at `generation`, where it was when the encoding began.
    mutating func keep(status: Int, fields: HTTPFieldList, generation: UInt64, block: UnsafeRawBufferPointer) {
        if storage == nil {
            candidates += 1
            guard candidates >= 2 else { return }
            let made = Storage()
            storage = made
            slots = made.slots
        }
        let address = fields.sharedFieldsAddress
        let index = Self.slot(forAddress: address)
        let slot = slots! + index
        if slot.pointee.sharedAddress != address { storage!.shared[index] = fields.shared }
        slot.pointee.keep(status: status, fields: fields, sharedAddress: address, generation: generation, block: block)
    }

    /// The slot of the heads made with `fields`' shared list (Fibonacci
    /// hashing of its address; slot 0 for none).
    static func slot(for fields: HTTPFieldList) -> Int { slot(forAddress: fields.sharedFieldsAddress) }

    @inline(__always)
    private static func slot(forAddress address: UInt) -> Int {
        Int(truncatingIfNeeded: (UInt64(address) &* 0x9E37_79B9_7F4A_7C15) >> 58)
    }

    final class Storage {
        let slots: UnsafeMutablePointer<Slot>
        /// Keeps each slot's shared list alive, so no other list can take
        /// its address while the slot names it.
        var shared: [HTTPFieldList?]

        init() {
            slots = .allocate(capacity: ResponseHeadMemo.slotCount)
            slots.initialize(repeating: Slot(), count: ResponseHeadMemo.slotCount)
            shared = Array(repeating: nil, count: ResponseHeadMemo.slotCount)
        }

        deinit {
            for index in 0..<ResponseHeadMemo.slotCount { slots[index].bytes?.deallocate() }
            slots.deallocate()
        }
    }

    /// One kept head: plain values only, 40 bytes (lengths fit 16 bits:
    /// at most `maximumBytes`).
    struct Slot {
        var generation: UInt64 = 0
        /// The shared list's address (`HTTPFieldList.sharedFieldsAddress`).
        var sharedAddress: UInt = 0
        /// The own fields, each as a `Record` then its name and value bytes,
        /// followed by the block: `used` of `capacity` bytes.
        var bytes: UnsafeMutableRawPointer?
        /// 0: nothing kept.
        var status: UInt16 = 0
        var ownFieldCount: UInt16 = 0
        var capacity: UInt16 = 0
        var used: UInt16 = 0
        var blockCount: UInt16 = 0

        private struct Record {
            var nameLength: UInt32
            /// The value's length; the top bit marks a never-indexed field.
            var valueLengthAndMark: UInt32
            static let neverIndexed: UInt32 = 1 << 31
        }

        /// `sharedAddress`: `fields.sharedFieldsAddress`, found once by the caller.
        func replay(status: Int, fields: HTTPFieldList, sharedAddress: UInt, generation: UInt64,
                    into output: inout HPACKOutput) -> Bool {
            guard status == Int(self.status), generation == self.generation, sharedAddress == self.sharedAddress,
                  fields.ownCount == Int(ownFieldCount), let base = bytes else { return false }
            let sharedCount = fields.count - fields.ownCount
            var offset = 0
            for index in 0..<Int(ownFieldCount) {
                let record = base.loadUnaligned(fromByteOffset: offset, as: Record.self)
                offset += MemoryLayout<Record>.size
                let field = fields.own(index)
                let mark = fields.isNeverIndexed(sharedCount + index) ? Record.neverIndexed : 0
                guard record.nameLength == UInt32(field.name.count),
                      record.valueLengthAndMark == UInt32(field.value.count) | mark,
                      HTTPFieldList.equal(UnsafeRawBufferPointer(start: base + offset, count: field.name.count), field.name)
                else { return false }
                offset += field.name.count
                guard HTTPFieldList.equal(UnsafeRawBufferPointer(start: base + offset, count: field.value.count), field.value)
                else { return false }
                offset += field.value.count
            }
            output.append(UnsafeRawBufferPointer(start: base + Int(used - blockCount), count: Int(blockCount)))
            return true
        }

        mutating func keep(status: Int, fields: HTTPFieldList, sharedAddress: UInt, generation: UInt64,
                           block: UnsafeRawBufferPointer) {
            let sharedCount = fields.count - fields.ownCount
            var needed = block.count
            for index in 0..<fields.ownCount {
                let field = fields.own(index)
                needed += MemoryLayout<Record>.size + field.name.count + field.value.count
            }
            guard needed <= ResponseHeadMemo.maximumBytes, fields.ownCount <= Int(UInt16.max), (100...999).contains(status) else {
                self.status = 0
                return
            }
            if Int(capacity) < needed {
                bytes?.deallocate()
                capacity = UInt16(max(needed, 128))
                bytes = .allocate(byteCount: Int(capacity), alignment: 8)
            }
            let base = bytes!
            var offset = 0
            for index in 0..<fields.ownCount {
                let field = fields.own(index)
                let mark = fields.isNeverIndexed(sharedCount + index) ? Record.neverIndexed : 0
                base.storeBytes(of: Record(nameLength: UInt32(field.name.count), valueLengthAndMark: UInt32(field.value.count) | mark),
                                toByteOffset: offset, as: Record.self)
                offset += MemoryLayout<Record>.size
                if field.name.count > 0 { (base + offset).copyMemory(from: field.name.baseAddress!, byteCount: field.name.count) }
                offset += field.name.count
                if field.value.count > 0 { (base + offset).copyMemory(from: field.value.baseAddress!, byteCount: field.value.count) }
                offset += field.value.count
            }
            if block.count > 0 { (base + offset).copyMemory(from: block.baseAddress!, byteCount: block.count) }
            used = UInt16(needed)
            blockCount = UInt16(block.count)
            ownFieldCount = UInt16(fields.ownCount)
            self.sharedAddress = sharedAddress
            self.generation = generation
            self.status = UInt16(status)
        }
    }
}
