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
    /// whose name and value both match, if any.
    static func find(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> (nameIndex: Int?, fullIndex: Int?) {
        guard let first = nameIndex[FieldHash.hash(name)] else { return (nil, nil) }
        var index = first
        var nameMatch: Int?
        // Entries sharing a name are adjacent in the static table.
        while index <= count {
            let entry = field(index)
            guard equal(entry.name, name) else { break }
            if nameMatch == nil { nameMatch = index }
            if equal(entry.value, value) { return (nameMatch, index) }
            index += 1
        }
        return (nameMatch, nil)
    }

    /// Name hash → first static index with that name (collisions checked by `find`).
    private static let nameIndex: [UInt32: Int] = {
        var map: [UInt32: Int] = [:]
        for index in 1...count {
            let hash = FieldHash.hash(bytes(entries[index - 1].name))
            if map[hash] == nil { map[hash] = index }
        }
        return map
    }()
}

@inline(__always)
func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
}

/// FNV-1a over a byte span; cheap and good enough for small tables whose
/// hits are confirmed by comparing bytes.
enum FieldHash {
    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for byte in bytes {
            hash ^= UInt32(byte)
            hash &*= 16_777_619
        }
        return hash
    }

    @inline(__always)
    static func hash(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> UInt32 {
        var hash = hash(name)
        hash ^= 0xFF
        hash &*= 16_777_619
        for byte in value {
            hash ^= UInt32(byte)
            hash &*= 16_777_619
        }
        return hash
    }
}
