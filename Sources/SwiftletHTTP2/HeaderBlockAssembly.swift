/// Collecting a field block sent in pieces (RFC 9113 §4.3, §6.10): a HEADERS
/// frame without END_HEADERS, then CONTINUATION frames on the same stream
/// until one carries END_HEADERS. The pieces are copied out of the receive
/// ring (a frame's bytes are gone once it is consumed) into one buffer,
/// reused from block to block. The CONTINUATION flood (CVE-2024-27316 and
/// its kin) is bounded here by frame count and by total size; the time a
/// block may take is the engine's timer. A block that comes in one HEADERS
/// frame never passes through here.
struct HeaderBlockAssembly {
    /// What the HEADERS frame said about the block being collected.
    struct Block: Equatable {
        var streamID: UInt32
        var endStream: Bool
        /// RFC 7540 §5.3.1: the HEADERS priority fields named the stream itself.
        var selfDependent: Bool
        /// The RFC 7540 weight from the HEADERS priority fields, if any.
        var weight: Int?
        /// CONTINUATION frames received so far.
        var continuations = 0
    }

    enum Outcome: Equatable {
        /// More CONTINUATION frames are expected.
        case continuing
        /// END_HEADERS came: the block is in `bytes` until the next `begin`.
        case complete(Block)
        case rejected(Rejection)
    }

    /// The block being collected, if any.
    private(set) var current: Block?
    private var buffer: [UInt8] = []

    /// Nothing collected. The bounds come with each frame, from the
    /// caller's `Limits` (`maxContinuationFrames`, `maxHeaderBlockBytes`),
    /// shared by all connections rather than copied into each.
    init() {}

    /// §6.10: a block "MUST be followed by a CONTINUATION frame for the same
    /// stream ... Receipt of any other type of frame or a frame on a
    /// different stream MUST be treated as a connection error of type
    /// PROTOCOL_ERROR." The rejection for a frame that breaks in, if one does.
    func interrupted(by type: FrameType, streamID: UInt32) -> Rejection? {
        guard let current, type != .continuation || streamID != current.streamID else { return nil }
        return Rejection(.interleavedHeaderBlock, "\(type) on stream \(streamID) inside the header block of stream \(current.streamID)")
    }

    /// A HEADERS frame without END_HEADERS starts a block with `fragment`.
    mutating func begin(_ block: Block, fragment: UnsafeRawBufferPointer, limits: Limits) -> Rejection? {
        guard fragment.count <= limits.maxHeaderBlockBytes else { return Self.tooLarge(limits) }
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: fragment)
        current = block
        return nil
    }

    /// A CONTINUATION frame adds `fragment`; with `endHeaders` the block is
    /// complete.
    mutating func continuation(_ fragment: UnsafeRawBufferPointer, endHeaders: Bool, limits: Limits) -> Outcome {
        // "A CONTINUATION frame MUST be preceded by a HEADERS, PUSH_PROMISE or
        // CONTINUATION frame without the END_HEADERS flag set. A recipient that
        // observes violation of this rule MUST respond with a connection error
        // of type PROTOCOL_ERROR."
        guard var block = current else {
            return .rejected(Rejection(.unexpectedContinuation, "CONTINUATION without a preceding HEADERS"))
        }
        block.continuations += 1
        // CONTINUATION flood: frame count and raw size are bounded.
        guard block.continuations <= limits.maxContinuationFrames else {
            return .rejected(Rejection(.continuationFlood, "more than \(limits.maxContinuationFrames) CONTINUATION frames"))
        }
        guard buffer.count + fragment.count <= limits.maxHeaderBlockBytes else { return .rejected(Self.tooLarge(limits)) }
        buffer.append(contentsOf: fragment)
        guard endHeaders else {
            current = block
            return .continuing
        }
        current = nil
        return .complete(block)
    }

    /// Calls `body` with the bytes of the block that completed last.
    func withBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        buffer.withUnsafeBytes(body)
    }

    private static func tooLarge(_ limits: Limits) -> Rejection {
        Rejection(.headerBlockTooLarge, "header block exceeds \(limits.maxHeaderBlockBytes) bytes")
    }
}
