/// HPACK prefix integers (RFC 7541 §5.1).
///
///     value < 2^N − 1:     [ prefix flags | value ]
///     otherwise:           [ prefix flags | 1…1 ] then 7 bits per byte,
///                          least significant first, high bit = "more"
enum IntegerCoding {
    /// Decodes an integer whose first byte is at `input[position]`, using
    /// the low `prefixBits` bits of it. Values above UInt32.max are rejected
    /// (larger ones cannot be sizes or indexes we accept).
    @inline(__always)
    static func decode(_ input: UnsafeRawBufferPointer, _ position: inout Int, prefixBits: Int) throws(HPACKError) -> Int {
        guard position < input.count else { throw .truncated }
        let mask = (1 << prefixBits) - 1
        var value = Int(input[position]) & mask
        position += 1
        if value < mask { return value }
        var shift = 0
        while true {
            guard position < input.count else { throw .truncated }
            let byte = Int(input[position])
            position += 1
            value += (byte & 0x7F) << shift
            if value > Int(UInt32.max) { throw .integerOverflow }
            if byte & 0x80 == 0 { return value }
            shift += 7
            if shift > 28 { throw .integerOverflow }
        }
    }

    /// Bytes `encode` writes for `value` with an N-bit prefix.
    static func encodedLength(_ value: Int, prefixBits: Int) -> Int {
        let mask = (1 << prefixBits) - 1
        if value < mask { return 1 }
        var rest = value - mask
        var length = 2
        while rest >= 0x80 {
            rest >>= 7
            length += 1
        }
        return length
    }

    /// Writes `value` with an N-bit prefix; `flags` fills the bits above it.
    @inline(__always)
    static func encode(_ value: Int, prefixBits: Int, flags: UInt8, into output: inout HPACKOutput) {
        let mask = (1 << prefixBits) - 1
        if value < mask {
            output.append(flags | UInt8(value))
            return
        }
        output.append(flags | UInt8(mask))
        var rest = value - mask
        while rest >= 0x80 {
            output.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        output.append(UInt8(rest))
    }
}
