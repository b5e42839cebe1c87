/// The 9-byte frame header (RFC 9113 §4.1):
///
///     +-----------------------------------------------+
///     |                 Length (24)                   |
///     +---------------+---------------+---------------+
///     |   Type (8)    |   Flags (8)   |
///     +-+-------------+---------------+-------------------------------+
///     |R|                 Stream Identifier (31)                      |
///     +=+=============================================================+
///     |                   Frame Payload (0...)                      ...
///     +---------------------------------------------------------------+
public struct FrameHeader: Equatable, Sendable {
    public static let size = 9

    public var length: Int
    public var type: FrameType
    public var flags: FrameFlags
    /// The reserved bit is dropped: "MUST be ignored when receiving" (§4.1).
    public var streamID: UInt32

    public init(length: Int, type: FrameType, flags: FrameFlags, streamID: UInt32) {
        self.length = length
        self.type = type
        self.flags = flags
        self.streamID = streamID
    }

    /// Parses the first 9 bytes of `bytes` (the caller checks the count).
    @inline(__always)
    public init(parsing bytes: UnsafeRawBufferPointer) {
        length = Int(bytes[0]) << 16 | Int(bytes[1]) << 8 | Int(bytes[2])
        type = FrameType(rawValue: bytes[3])
        flags = FrameFlags(rawValue: bytes[4])
        streamID = (UInt32(bytes[5]) << 24 | UInt32(bytes[6]) << 16 | UInt32(bytes[7]) << 8 | UInt32(bytes[8])) & 0x7FFF_FFFF
    }

    /// Writes the 9 bytes at `destination`.
    @inline(__always)
    public func write(to destination: UnsafeMutableRawPointer) {
        destination.storeBytes(of: UInt8(truncatingIfNeeded: length >> 16), as: UInt8.self)
        (destination + 1).storeBytes(of: UInt8(truncatingIfNeeded: length >> 8), as: UInt8.self)
        (destination + 2).storeBytes(of: UInt8(truncatingIfNeeded: length), as: UInt8.self)
        (destination + 3).storeBytes(of: type.rawValue, as: UInt8.self)
        (destination + 4).storeBytes(of: flags.rawValue, as: UInt8.self)
        (destination + 5).storeBytes(of: UInt32(streamID & 0x7FFF_FFFF).bigEndian, toByteOffset: 0, as: UInt32.self)
    }
}

extension UnsafeRawBufferPointer {
    /// The big-endian 32-bit value at `offset`.
    @inline(__always)
    func readUInt32(at offset: Int) -> UInt32 {
        UInt32(self[offset]) << 24 | UInt32(self[offset + 1]) << 16 | UInt32(self[offset + 2]) << 8 | UInt32(self[offset + 3])
    }

    /// The big-endian 16-bit value at `offset`.
    @inline(__always)
    func readUInt16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) << 8 | UInt16(self[offset + 1])
    }
}
