import Glibc

/// The static table of RFC 7541 Appendix A: indexes 1...61.
///
/// Names and values are `StaticString`s, so a field decoded from the static
/// table points at constant memory and costs no copy.
enum StaticTable {
    static let count = 61

    static let entries: [(name: StaticString, value: StaticString)] = [
        (":authority", ""),  // 1
        (":method", "GET"),  // 2
        (":method", "POST"),  // 3
        (":path", "/"),  // 4
        (":path", "/index.html"),  // 5
        (":scheme", "http"),  // 6
        (":scheme", "https"),  // 7
        (":status", "200"),  // 8
        (":status", "204"),  // 9
        (":status", "206"),  // 10
        (":status", "304"),  // 11
        (":status", "400"),  // 12
        (":status", "404"),  // 13
        (":status", "500"),  // 14
        ("accept-charset", ""),  // 15
        ("accept-encoding", "gzip, deflate"),  // 16
        ("accept-language", ""),  // 17
        ("accept-ranges", ""),  // 18
        ("accept", ""),  // 19
        ("access-control-allow-origin", ""),  // 20
        ("age", ""),  // 21
        ("allow", ""),  // 22
        ("authorization", ""),  // 23
        ("cache-control", ""),  // 24
        ("content-disposition", ""),  // 25
        ("content-encoding", ""),  // 26
        ("content-language", ""),  // 27
        ("content-length", ""),  // 28
        ("content-location", ""),  // 29
        ("content-range", ""),  // 30
        ("content-type", ""),  // 31
        ("cookie", ""),  // 32
        ("date", ""),  // 33
        ("etag", ""),  // 34
        ("expect", ""),  // 35
        ("expires", ""),  // 36
        ("from", ""),  // 37
        ("host", ""),  // 38
        ("if-match", ""),  // 39
        ("if-modified-since", ""),  // 40
        ("if-none-match", ""),  // 41
        ("if-range", ""),  // 42
        ("if-unmodified-since", ""),  // 43
        ("last-modified", ""),  // 44
        ("link", ""),  // 45
        ("location", ""),  // 46
        ("max-forwards", ""),  // 47
        ("proxy-authenticate", ""),  // 48
        ("proxy-authorization", ""),  // 49
        ("range", ""),  // 50
        ("referer", ""),  // 51
        ("refresh", ""),  // 52
        ("retry-after", ""),  // 53
        ("server", ""),  // 54
        ("set-cookie", ""),  // 55
        ("strict-transport-security", ""),  // 56
        ("transfer-encoding", ""),  // 57
        ("user-agent", ""),  // 58
        ("vary", ""),  // 59
        ("via", ""),  // 60
        ("www-authenticate", ""),  // 61
    ]

    /// Name and value of entry `index` (1...61) as byte spans.
    @inline(__always)
    static func field(_ index: Int) -> (name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let entry = entries[index - 1]
        return (bytes(entry.name), bytes(entry.value))
    }

    @inline(__always)
    static func bytes(_ string: StaticString) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: string.utf8Start, count: string.utf8CodeUnitCount)
    }

    /// For the encoder: the first index whose name is `name`, and the index
    /// whose name and value both match, if any. `nameHash` is
    /// `FieldHash.hash(name)`.
    static func find(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, nameHash: UInt32) -> (nameIndex: Int?, fullIndex: Int?) {
        // Open addressing over the 52 distinct names (128 slots, linear probing).
        var slot = Int(nameHash & 127)
        var first = 0
        while true {
            let candidate = nameSlots[slot]
            if candidate.index == 0 { return (nil, nil) }
            if candidate.hash == nameHash && equal(field(candidate.index).name, name) {
                first = candidate.index
                break
            }
            slot = (slot + 1) & 127
        }
        // Entries sharing a name are adjacent in the static table.
        var index = first
        while index <= count {
            let entry = field(index)
            guard equal(entry.name, name) else { break }
            if equal(entry.value, value) { return (first, index) }
            index += 1
        }
        return (first, nil)
    }

    /// Name hash → first static index with that name.
    nonisolated(unsafe) private static let nameSlots: UnsafeMutablePointer<(hash: UInt32, index: Int)> = {
        let slots = UnsafeMutablePointer<(hash: UInt32, index: Int)>.allocate(capacity: 128)
        slots.initialize(repeating: (0, 0), count: 128)
        for index in 1...count {
            let name = bytes(entries[index - 1].name)
            let hash = FieldHash.hash(name)
            var slot = Int(hash & 127)
            var known = false
            while slots[slot].index != 0 {
                if slots[slot].hash == hash && equal(field(slots[slot].index).name, name) { known = true; break }
                slot = (slot + 1) & 127
            }
            if !known { slots[slot] = (hash, index) }
        }
        return slots
    }()
}

@inline(__always)
func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
}

/// A fast hash of byte spans for small tables whose hits are confirmed by
/// comparing bytes: eight bytes per step (multiply and rotate), the tail
/// byte by byte.
enum FieldHash {
    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> UInt32 {
        var hash = seed ^ UInt64(bytes.count)
        var offset = 0
        if let base = bytes.baseAddress {
            while offset + 8 <= bytes.count {
                let word = base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                hash = (hash ^ word) &* 0xFF51_AFD7_ED55_8CCD
                hash = (hash << 29) | (hash >> 35)
                offset += 8
            }
            while offset < bytes.count {
                hash = (hash ^ UInt64(base.load(fromByteOffset: offset, as: UInt8.self))) &* 0x0000_0100_0000_01B3
                offset += 1
            }
        }
        hash ^= hash >> 33
        hash &*= 0xC4CE_B9FE_1A85_EC53
        hash ^= hash >> 33
        return UInt32(truncatingIfNeeded: hash)
    }

    @inline(__always)
    static func hash(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> UInt32 {
        hash(value, seed: UInt64(hash(name)) &* 0x9E37_79B9_7F4A_7C15 | 1)
    }
}
