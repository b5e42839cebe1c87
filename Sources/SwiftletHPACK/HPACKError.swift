/// A header block that breaks RFC 7541 or one of the decoder's limits.
///
/// Every case is a COMPRESSION_ERROR at the HTTP/2 level (RFC 9113 §4.3:
/// "A decoding error in a field block MUST be treated as a connection error
/// of type COMPRESSION_ERROR"). `token` is a stable short name for counters
/// and logs; `reason` is a human sentence sent as GOAWAY debug data.
public enum HPACKError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The block ended inside an integer, a string or a field.
    case truncated
    /// An integer needs more than 32 bits (RFC 7541 §5.1 allows limits).
    case integerOverflow
    /// An index of 0, or beyond the static and dynamic tables (§2.3.3).
    case invalidIndex(Int)
    /// A string is longer than the decoder's string limit; checked before
    /// any Huffman decoding.
    case stringTooLong(length: Int, limit: Int)
    /// The Huffman code contains EOS (§5.2: "MUST be treated as a decoding error").
    case huffmanEOS
    /// Huffman padding longer than 7 bits, or not the EOS prefix (§5.2).
    case huffmanPadding
    /// The decoded list (name + value + 32 per field, RFC 9113 §6.5.2)
    /// exceeds the limit.
    case headerListTooLarge(limit: Int)
    /// More fields than the decoder's field limit.
    case tooManyFields(limit: Int)
    /// A dynamic table size update after the first field (§4.2: "MUST occur
    /// at the beginning of the first header block following the change").
    case sizeUpdateNotAtStart
    /// A size update above the SETTINGS_HEADER_TABLE_SIZE we sent (§6.3).
    case sizeUpdateTooLarge(size: Int, limit: Int)
    /// We lowered our table size and the block did not start with the size
    /// update that must follow (§4.2).
    case sizeUpdateMissing

    /// Stable short name, counted and logged.
    public var token: String {
        switch self {
        case .truncated: "hpack_truncated"
        case .integerOverflow: "hpack_integer_overflow"
        case .invalidIndex: "hpack_invalid_index"
        case .stringTooLong: "hpack_string_too_long"
        case .huffmanEOS: "hpack_huffman_eos"
        case .huffmanPadding: "hpack_huffman_padding"
        case .headerListTooLarge: "hpack_header_list_too_large"
        case .tooManyFields: "hpack_too_many_fields"
        case .sizeUpdateNotAtStart: "hpack_size_update_position"
        case .sizeUpdateTooLarge: "hpack_size_update_too_large"
        case .sizeUpdateMissing: "hpack_size_update_missing"
        }
    }

    /// Human reason, sent as GOAWAY debug data.
    public var reason: String {
        switch self {
        case .truncated: "header block truncated"
        case .integerOverflow: "HPACK integer exceeds 32 bits"
        case .invalidIndex(let index): "HPACK index \(index) is not in the static or dynamic table"
        case .stringTooLong(let length, let limit): "HPACK string of \(length) bytes exceeds the limit of \(limit)"
        case .huffmanEOS: "Huffman-coded string contains EOS"
        case .huffmanPadding: "invalid Huffman padding"
        case .headerListTooLarge(let limit): "decoded header list exceeds \(limit) bytes"
        case .tooManyFields(let limit): "header block has more than \(limit) fields"
        case .sizeUpdateNotAtStart: "dynamic table size update after the first field"
        case .sizeUpdateTooLarge(let size, let limit): "dynamic table size update to \(size) exceeds SETTINGS_HEADER_TABLE_SIZE \(limit)"
        case .sizeUpdateMissing: "header block did not start with the required dynamic table size update"
        }
    }

    public var description: String { "\(token): \(reason)" }
}
