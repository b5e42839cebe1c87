/// Huffman coding of HPACK string literals (RFC 7541 §5.2, Appendix B).
///
/// Decoding runs a state machine four bits at a time. The states are the
/// 256 internal nodes of the code tree; for each state and each nibble the
/// generated table says where the walk ends, whether a symbol was completed
/// on the way (at most one: no code is shorter than five bits), and whether
/// stopping there is a valid end of string (the bits since the last symbol
/// are all ones and fewer than eight: §5.2's padding rule). A walk that
/// completes EOS fails (§5.2: "A Huffman-encoded string literal containing
/// the EOS symbol MUST be treated as a decoding error").
public enum Huffman {
    struct Transition {
        var next: UInt8
        var symbol: UInt8
        var flags: UInt8
        static let emits: UInt8 = 1
        static let accepting: UInt8 = 2
        static let fails: UInt8 = 4
    }

    /// 256 states × 16 nibbles, generated from `huffmanCodes` on first use.
    static let decodingTable: [Transition] = makeDecodingTable()

    private static func makeDecodingTable() -> [Transition] {
        // Build the tree: node 0 is the root; children[n] = (zero, one);
        // a child value ≥ 0 is a node, < 0 is the leaf −(symbol + 1).
        var children: [(Int, Int)] = [(0, 0)]
        var used = [false]
        func child(_ node: Int, _ bit: Int) -> Int { bit == 0 ? children[node].0 : children[node].1 }
        func setChild(_ node: Int, _ bit: Int, _ value: Int) {
            if bit == 0 { children[node].0 = value } else { children[node].1 = value }
        }
        var hasChild = [(false, false)]
        for symbol in 0...256 {
            let (code, length) = huffmanCodes[symbol]
            var node = 0
            for position in stride(from: Int(length) - 1, through: 0, by: -1) {
                let bit = Int(code >> UInt32(position)) & 1
                if position == 0 {
                    setChild(node, bit, -(symbol + 1))
                } else {
                    let present = bit == 0 ? hasChild[node].0 : hasChild[node].1
                    if present {
                        node = child(node, bit)
                    } else {
                        children.append((0, 0))
                        hasChild.append((false, false))
                        used.append(true)
                        let fresh = children.count - 1
                        setChild(node, bit, fresh)
                        if bit == 0 { hasChild[node].0 = true } else { hasChild[node].1 = true }
                        node = fresh
                    }
                }
            }
        }
        precondition(children.count == 256, "the HPACK code has 256 internal nodes")
        // Depth of each node and whether its path from the root is all ones.
        var depth = [Int](repeating: 0, count: 256)
        var allOnes = [Bool](repeating: true, count: 256)
        var stack = [0]
        while let node = stack.popLast() {
            for bit in 0...1 {
                let next = child(node, bit)
                if next > 0 {
                    depth[next] = depth[node] + 1
                    allOnes[next] = allOnes[node] && bit == 1
                    stack.append(next)
                }
            }
        }
        var table = [Transition](repeating: Transition(next: 0, symbol: 0, flags: 0), count: 256 * 16)
        for state in 0..<256 {
            for nibble in 0..<16 {
                var node = state
                var transition = Transition(next: 0, symbol: 0, flags: 0)
                for position in stride(from: 3, through: 0, by: -1) {
                    let next = child(node, (nibble >> position) & 1)
                    if next < 0 {
                        let symbol = -next - 1
                        if symbol == 256 {
                            transition.flags |= Transition.fails
                            break
                        }
                        transition.symbol = UInt8(symbol)
                        transition.flags |= Transition.emits
                        node = 0
                    } else {
                        node = next
                    }
                }
                transition.next = UInt8(node)
                if node == 0 || (allOnes[node] && depth[node] <= 7) { transition.flags |= Transition.accepting }
                table[state * 16 + nibble] = transition
            }
        }
        return table
    }

    /// The most bytes `decode` can produce from `length` input bytes
    /// (the shortest code is five bits).
    public static func maximumDecodedLength(_ length: Int) -> Int { (length * 8 + 4) / 5 }

    /// The table in memory that is never freed or moved (read-only after creation).
    nonisolated(unsafe) private static let table: UnsafePointer<Transition> = {
        let pointer = UnsafeMutablePointer<Transition>.allocate(capacity: decodingTable.count)
        pointer.initialize(from: decodingTable, count: decodingTable.count)
        return UnsafePointer(pointer)
    }()

    /// Decodes `input` into `output`, which must hold
    /// `maximumDecodedLength(input.count)` bytes; returns the count written.
    public static func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutablePointer<UInt8>) throws(HPACKError) -> Int {
        let table = Self.table
        var state = 0
        var accepting = true
        var written = 0
        for byte in input {
            let high = table[state &* 16 &+ Int(byte >> 4)]
            if high.flags & Transition.fails != 0 { throw .huffmanEOS }
            if high.flags & Transition.emits != 0 {
                output[written] = high.symbol
                written &+= 1
            }
            let low = table[Int(high.next) &* 16 &+ Int(byte & 0x0F)]
            if low.flags & Transition.fails != 0 { throw .huffmanEOS }
            if low.flags & Transition.emits != 0 {
                output[written] = low.symbol
                written &+= 1
            }
            state = Int(low.next)
            accepting = low.flags & Transition.accepting != 0
        }
        if !accepting { throw .huffmanPadding }
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
