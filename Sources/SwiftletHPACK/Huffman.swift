/// Huffman coding of HPACK string literals (RFC 7541 §5.2, Appendix B).
///
/// Decoding consumes one input byte per table step. The states are the 256
/// internal nodes of the code tree (where the bits read since the last
/// complete symbol lead). For each state and each byte, one 32-bit entry of
/// the generated table says where the walk ends, which symbols it completed
/// on the way, whether stopping there is a valid end of string (the bits
/// since the last symbol are all ones and fewer than eight: §5.2's padding
/// rule), and whether it completed EOS (§5.2: "A Huffman-encoded string
/// literal containing the EOS symbol MUST be treated as a decoding error").
/// A byte completes at most two symbols: no code is shorter than five bits,
/// so one code begun before the byte and one begun within it can end in it,
/// but not a third.
///
/// The step has no branches: it always stores two bytes and advances the
/// output by the number of symbols completed, and EOS is checked once at the
/// end (the flags of every step are or-ed together). A byte per step halves
/// the steps of a nibble table; the table is 256 × 256 × 4 bytes = 256 KiB,
/// generated on first use, of which a string's walk touches a few lines.
public enum Huffman {
    /// One table entry: bits 0–1 how many symbols were completed, 2 the
    /// string may end here, 3 EOS was completed (the walk stops: count 0,
    /// next state the root), 8–15 the next state, 16–23 the first symbol
    /// completed, 24–31 the second. The next state sits where the next
    /// step's index wants it (state × 256 + byte), so the step's critical
    /// path is a mask, an or and the load.
    enum Entry {
        static let countMask: UInt32 = 3
        static let accepting: UInt32 = 1 << 2
        static let fails: UInt32 = 1 << 3
        static let stateMask: UInt32 = 0xFF00
    }

    /// 256 states × 256 bytes, generated from `huffmanCodes`.
    static func makeDecodingTable() -> [UInt32] {
        // Build the tree: node 0 is the root; a child value > 0 is a node,
        // < 0 is the leaf −(symbol + 1), 0 is absent (the root is no one's child).
        var children: [(zero: Int, one: Int)] = [(0, 0)]
        for symbol in 0...256 {
            let (code, length) = huffmanCodes[symbol]
            var node = 0
            for position in stride(from: Int(length) - 1, through: 0, by: -1) {
                let bit = Int(code >> UInt32(position)) & 1
                let existing = bit == 0 ? children[node].zero : children[node].one
                let next: Int
                if position == 0 {
                    next = -(symbol + 1)
                } else if existing > 0 {
                    next = existing
                } else {
                    children.append((0, 0))
                    next = children.count - 1
                }
                if bit == 0 { children[node].zero = next } else { children[node].one = next }
                node = next
            }
        }
        precondition(children.count == 256, "the HPACK code has 256 internal nodes")
        // Depth of each node and whether its path from the root is all ones.
        var depth = [Int](repeating: 0, count: 256)
        var allOnes = [Bool](repeating: true, count: 256)
        var stack = [0]
        while let node = stack.popLast() {
            for (bit, next) in [(0, children[node].zero), (1, children[node].one)] where next > 0 {
                depth[next] = depth[node] + 1
                allOnes[next] = allOnes[node] && bit == 1
                stack.append(next)
            }
        }
        var table = [UInt32](repeating: 0, count: 256 * 256)
        for state in 0..<256 {
            for byte in 0..<256 {
                var node = state
                var symbols: [UInt32] = []
                var fails = false
                for position in stride(from: 7, through: 0, by: -1) {
                    let next = (byte >> position) & 1 == 0 ? children[node].zero : children[node].one
                    if next < 0 {
                        let symbol = -next - 1
                        if symbol == 256 {
                            fails = true
                            break
                        }
                        symbols.append(UInt32(symbol))
                        node = 0
                    } else {
                        node = next
                    }
                }
                var entry: UInt32
                if fails {
                    entry = Entry.fails
                } else {
                    precondition(symbols.count <= 2)
                    entry = UInt32(node) << 8 | UInt32(symbols.count)
                    for (index, symbol) in symbols.enumerated() { entry |= symbol << (16 + 8 * UInt32(index)) }
                    if node == 0 || (allOnes[node] && depth[node] <= 7) { entry |= Entry.accepting }
                }
                table[state << 8 | byte] = entry
            }
        }
        return table
    }

    /// Bytes the output buffer of `decode` must hold for `length` input
    /// bytes: the most it can produce (the shortest code is five bits), plus
    /// two, because every step stores two bytes whether it completed them or not.
    public static func decodingCapacity(_ length: Int) -> Int { length * 8 / 5 + 2 }

    /// The table in memory that is never freed or moved (read-only after creation).
    nonisolated(unsafe) private static let table: UnsafePointer<UInt32> = {
        let entries = makeDecodingTable()
        let pointer = UnsafeMutablePointer<UInt32>.allocate(capacity: entries.count)
        pointer.initialize(from: entries, count: entries.count)
        return UnsafePointer(pointer)
    }()

    /// Decodes `input` into `output`, which must hold
    /// `decodingCapacity(input.count)` bytes; returns the count written.
    public static func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutablePointer<UInt8>) throws(HPACKError) -> Int {
        let table = Self.table
        let output = UnsafeMutableRawPointer(output)
        var seen: UInt32 = 0
        var last = Entry.accepting  // the root; the empty string is valid
        var written = 0
        for byte in input {
            last = table[Int(last & Entry.stateMask | UInt32(byte))]
            output.storeBytes(of: UInt16(truncatingIfNeeded: last >> 16).littleEndian, toByteOffset: written, as: UInt16.self)
            written &+= Int(last & Entry.countMask)
            seen |= last
        }
        if seen & Entry.fails != 0 { throw .huffmanEOS }
        if last & Entry.accepting == 0 { throw .huffmanPadding }
        return written
    }

    /// Bytes the Huffman encoding of `input` takes.
    public static func encodedLength(_ input: UnsafeRawBufferPointer) -> Int {
        var bits = 0
        for byte in input { bits += Int(huffmanCodes[Int(byte)].length) }
        return (bits + 7) / 8
    }

    /// Encodes `input` into `output`, which must hold `encodedLength(input)` bytes.
    public static func encode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutablePointer<UInt8>) {
        var accumulator: UInt64 = 0
        var bits = 0
        var written = 0
        for byte in input {
            let (code, length) = huffmanCodes[Int(byte)]
            accumulator = accumulator << UInt64(length) | UInt64(code)
            bits += Int(length)
            while bits >= 8 {
                bits -= 8
                output[written] = UInt8(truncatingIfNeeded: accumulator >> UInt64(bits))
                written += 1
            }
        }
        if bits > 0 {
            // Pad with the most significant bits of EOS (all ones).
            output[written] = UInt8(truncatingIfNeeded: accumulator << UInt64(8 - bits)) | UInt8(0xFF >> bits)
        }
    }
}
