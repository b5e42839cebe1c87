/// Encoding the frames a server sends (RFC 9113 §6): their byte layouts,
/// apart from deciding when to send them (`HTTP2Engine`) and from where the
/// bytes go (its transport), as `FrameDecoder` is for the frames it reads.
/// Each `write` function writes one whole frame at `destination`, which has
/// room for the frame's size (given beside it), and returns the bytes
/// written. The test client builds its well-formed frames with the same
/// functions; values are written as given, so it can build out-of-range ones
/// too.
public enum FrameEncoder {
    // MARK: SETTINGS (§6.5)

    /// "The payload of a SETTINGS frame consists of zero or more settings,
    /// each consisting of an unsigned 16-bit setting identifier and an
    /// unsigned 32-bit value" (§6.5.1).
    public static func settingsSize(parameterCount: Int) -> Int { FrameHeader.size + 6 * parameterCount }

    public static func writeSettings(_ parameters: [(SettingsParameter, UInt32)], to destination: UnsafeMutableRawPointer) -> Int {
        FrameHeader(length: 6 * parameters.count, type: .settings, flags: [], streamID: 0).write(to: destination)
        let payload = destination + FrameHeader.size
        for (index, (parameter, value)) in parameters.enumerated() {
            payload.storeBytes(of: parameter.rawValue.bigEndian, toByteOffset: index * 6, as: UInt16.self)
            payload.storeBytes(of: value.bigEndian, toByteOffset: index * 6 + 2, as: UInt32.self)
        }
        return settingsSize(parameterCount: parameters.count)
    }

    /// "When this bit is set, the frame payload of the SETTINGS frame MUST
    /// be empty" (§6.5).
    public static let settingsAckSize = FrameHeader.size

    public static func writeSettingsAck(to destination: UnsafeMutableRawPointer) -> Int {
        FrameHeader(length: 0, type: .settings, flags: .ack, streamID: 0).write(to: destination)
        return settingsAckSize
    }

    // MARK: fixed-size control frames

    /// WINDOW_UPDATE (§6.9): a reserved bit and a 31-bit increment.
    public static let windowUpdateSize = FrameHeader.size + 4

    public static func writeWindowUpdate(streamID: UInt32, increment: UInt32, to destination: UnsafeMutableRawPointer) -> Int {
        FrameHeader(length: 4, type: .windowUpdate, flags: [], streamID: streamID).write(to: destination)
        destination.storeBytes(of: increment.bigEndian, toByteOffset: FrameHeader.size, as: UInt32.self)
        return windowUpdateSize
    }

    /// RST_STREAM (§6.4): a 32-bit error code.
    public static let rstStreamSize = FrameHeader.size + 4

    public static func writeRstStream(streamID: UInt32, code: ErrorCode, to destination: UnsafeMutableRawPointer) -> Int {
        FrameHeader(length: 4, type: .rstStream, flags: [], streamID: streamID).write(to: destination)
        destination.storeBytes(of: code.rawValue.bigEndian, toByteOffset: FrameHeader.size, as: UInt32.self)
        return rstStreamSize
    }

    /// PING (§6.7): "8 octets of opaque data", on stream 0.
    public static let pingSize = FrameHeader.size + 8

    public static func writePing(_ opaque: UInt64, ack: Bool, to destination: UnsafeMutableRawPointer) -> Int {
        FrameHeader(length: 8, type: .ping, flags: ack ? .ack : [], streamID: 0).write(to: destination)
        destination.storeBytes(of: opaque.bigEndian, toByteOffset: FrameHeader.size, as: UInt64.self)
        return pingSize
    }

    /// GOAWAY (§6.8) up to its debug data: the frame header, a reserved bit
    /// and the 31-bit last stream ID, the error code. The `debugLength`
    /// bytes of debug data the header announces follow it.
    public static let goAwayFixedSize = FrameHeader.size + 8

    public static func writeGoAway(lastStreamID: UInt32, code: ErrorCode, debugLength: Int,
                                   to destination: UnsafeMutableRawPointer) -> Int {
        FrameHeader(length: 8 + debugLength, type: .goAway, flags: [], streamID: 0).write(to: destination)
        destination.storeBytes(of: (lastStreamID & 0x7FFF_FFFF).bigEndian, toByteOffset: FrameHeader.size, as: UInt32.self)
        destination.storeBytes(of: code.rawValue.bigEndian, toByteOffset: FrameHeader.size + 4, as: UInt32.self)
        return goAwayFixedSize
    }

    // MARK: header blocks (§4.3)

    /// How a header block of `length` bytes goes out: "A field block MUST
    /// be transmitted as a contiguous sequence of frames" (§4.3), a HEADERS
    /// frame then CONTINUATION frames, none over the peer's
    /// SETTINGS_MAX_FRAME_SIZE (§4.2), END_HEADERS on the last (§6.10),
    /// END_STREAM only on the HEADERS frame (§6.2). Calls `frame` with each
    /// frame's header and the part of the block it carries, in order; an
    /// empty block is one empty HEADERS frame.
    public static func splitHeaderBlock(length: Int, streamID: UInt32, endStream: Bool, maxFrameSize: Int,
                                        _ frame: (FrameHeader, Range<Int>) -> Void) {
        var offset = 0
        var first = true
        repeat {
            let size = min(maxFrameSize, length - offset)
            var flags: FrameFlags = offset + size == length ? .endHeaders : []
            if first && endStream { flags.insert(.endStream) }
            frame(FrameHeader(length: size, type: first ? .headers : .continuation, flags: flags, streamID: streamID),
                  offset..<offset + size)
            offset += size
            first = false
        } while offset < length
    }
}
