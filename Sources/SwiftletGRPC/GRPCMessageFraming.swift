/// gRPC's Length-Prefixed-Message (gRPC over HTTP/2, "Requests" and
/// "Responses"): a DATA stream carries messages, each behind a 5-byte
/// prefix:
///
///     Length-Prefixed-Message → Compressed-Flag Message-Length Message
///     Compressed-Flag → 0 / 1   ; encoded as 1 byte unsigned integer
///     Message-Length → {length of Message}   ; encoded as 4 byte unsigned integer (big endian)
///
/// Messages do not line up with DATA frames: one may span many, one frame
/// may hold many. Without I/O, so it is tested as a value.
public enum GRPCMessageFraming {
    /// Bytes of the prefix.
    public static let prefixLength = 5

    /// `message` behind its prefix (never compressed: the flag is 0).
    public static func frame(_ message: some Collection<UInt8>) -> [UInt8] {
        var framed: [UInt8] = []
        framed.reserveCapacity(prefixLength + message.count)
        let length = UInt32(message.count)
        framed.append(0)
        framed.append(UInt8(length >> 24))
        framed.append(UInt8(truncatingIfNeeded: length >> 16))
        framed.append(UInt8(truncatingIfNeeded: length >> 8))
        framed.append(UInt8(truncatingIfNeeded: length))
        framed.append(contentsOf: message)
        return framed
    }
}

/// Cuts a stream of bytes into the messages it frames. Feed chunks as they
/// arrive (`append`), then take messages (`next`) until it asks for more;
/// at the end of the stream, `isEmpty` says whether a message was cut off.
public struct GRPCMessageDeframer {
    /// Why a message cannot be taken; the RPC fails with the status each names.
    public enum Failure: Error, Equatable {
        /// The Compressed-Flag is 1, and no compression is supported: the
        /// spec's "a message [...] compressed by an algorithm that is not
        /// supported by a server [...] will result in an UNIMPLEMENTED error".
        case compressed
        /// The prefix declares more than `maximumMessageSize` bytes
        /// (RESOURCE_EXHAUSTED, as gRPC implementations answer), refused
        /// before any of it is buffered.
        case tooLarge(Int)
        /// A Compressed-Flag other than 0 or 1.
        case badFlag(UInt8)
    }

    public let maximumMessageSize: Int
    private var buffer: [UInt8] = []
    private var start = 0

    public init(maximumMessageSize: Int) {
        self.maximumMessageSize = maximumMessageSize
    }

    /// Nothing is buffered: the stream may end here.
    public var isEmpty: Bool { start == buffer.count }

    public mutating func append(_ bytes: some Collection<UInt8>) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole message, or nil until more bytes arrive.
    public mutating func next() throws(Failure) -> [UInt8]? {
        let available = buffer.count - start
        guard available >= GRPCMessageFraming.prefixLength else { return nil }
        let flag = buffer[start]
        guard flag == 0 else { throw flag == 1 ? .compressed : .badFlag(flag) }
        var length = 0
        for index in 1...4 { length = length << 8 | Int(buffer[start + index]) }
        guard length <= maximumMessageSize else { throw .tooLarge(length) }
        guard available >= GRPCMessageFraming.prefixLength + length else { return nil }
        let body = start + GRPCMessageFraming.prefixLength
        let message = Array(buffer[body..<(body + length)])
        start = body + length
        // Keep the buffer from growing with the consumed prefix of a long stream.
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 1 << 16 && start > buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        return message
    }
}
