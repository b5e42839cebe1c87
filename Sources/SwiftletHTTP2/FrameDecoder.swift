/// A frame received from the peer, decoded: its fields, with payload parts
/// as views into the receive ring (valid while the frame is handled; no
/// copy, no allocation).
public enum InboundFrame {
    /// `data` is the payload without padding; `flowControlledLength` is the
    /// whole payload, which §6.9 counts: "The entire DATA frame payload is
    /// included in flow control, including the Pad Length and Padding
    /// fields if present."
    case data(stream: UInt32, data: UnsafeRawBufferPointer, flowControlledLength: Int, endStream: Bool)
    case headers(stream: UInt32, fragment: UnsafeRawBufferPointer, endStream: Bool, endHeaders: Bool, priority: PriorityFields?)
    case priority(stream: UInt32, PriorityFields)
    case rstStream(stream: UInt32, code: ErrorCode)
    case settings(SettingsEntries)
    case settingsAck
    case pushPromise(stream: UInt32)
    case ping(opaque: UInt64, ack: Bool)
    case goAway(lastStreamID: UInt32, code: ErrorCode, debug: UnsafeRawBufferPointer)
    /// `increment` may be 0: what that means depends on the stream's state
    /// (§6.9 and §5.1), so the connection judges it.
    case windowUpdate(stream: UInt32, increment: Int)
    case continuation(stream: UInt32, fragment: UnsafeRawBufferPointer, endHeaders: Bool)
    /// RFC 9218 §7.1; `fieldValue` is the Priority Field Value (§4).
    case priorityUpdate(prioritized: UInt32, fieldValue: UnsafeRawBufferPointer)
    /// §4.1: "Implementations MUST ignore and discard frames of unknown types."
    case unknown(FrameType)
}

/// The RFC 7540 priority fields of HEADERS and PRIORITY (§5.3.1, §6.3):
/// deprecated in RFC 9113, still sent by browsers as hints.
public struct PriorityFields: Equatable, Sendable {
    public var dependency: UInt32
    public var exclusive: Bool
    /// 1...256.
    public var weight: Int
}

/// The parameters of a SETTINGS frame (§6.5.1), read in place.
public struct SettingsEntries: Sequence {
    let payload: UnsafeRawBufferPointer

    public var count: Int { payload.count / 6 }

    public struct Iterator: IteratorProtocol {
        let payload: UnsafeRawBufferPointer
        var offset = 0
        public mutating func next() -> (SettingsParameter, UInt32)? {
            guard offset + 6 <= payload.count else { return nil }
            defer { offset += 6 }
            return (SettingsParameter(rawValue: payload.readUInt16(at: offset)), payload.readUInt32(at: offset + 2))
        }
    }

    public func makeIterator() -> Iterator { Iterator(payload: payload) }
}

/// What decoding a frame gives: the frame, or the error RFC 9113 requires
/// for a frame that is malformed in itself.
public enum FrameDecoding {
    case frame(InboundFrame)
    case streamError(UInt32, Rejection)
    case connectionError(Rejection)
}

/// Where the next frame of a receive buffer lies (`FrameDecoder.split`).
public enum FrameSplit {
    /// Fewer bytes than the next whole frame: offer them again with more.
    case incomplete
    /// A whole frame: its header, its payload (a view into the input) and
    /// the offset just after it.
    case frame(FrameHeader, payload: UnsafeRawBufferPointer, end: Int)
    /// The header announces more than SETTINGS_MAX_FRAME_SIZE: a
    /// connection error.
    case tooLarge(Rejection)
}

/// Decodes frames (RFC 9113 §4, §6; RFC 9218 §7.1) apart from deciding
/// what they mean: every check here needs only the frame itself (which
/// streams a type may use, fixed lengths, padding, priority fields, the
/// shape of SETTINGS). What depends on the connection (stream states,
/// windows, limits, header-block order) is `HTTP2Engine`'s.
///
/// `split` finds the next whole frame in a receive buffer and bounds its
/// length by SETTINGS_MAX_FRAME_SIZE (§4.2); `decode` reads one.
public enum FrameDecoder {
    /// The frame that starts at `offset` in `input`, once its header says
    /// its length is allowed (`maxFrameSize`, the SETTINGS_MAX_FRAME_SIZE
    /// we advertised) and all of it is there.
    @inline(__always)
    public static func split(_ input: UnsafeRawBufferPointer, at offset: Int, maxFrameSize: Int) -> FrameSplit {
        guard input.count - offset >= FrameHeader.size else { return .incomplete }
        let header = FrameHeader(parsing: UnsafeRawBufferPointer(rebasing: input[offset..<offset + FrameHeader.size]))
        // §4.2: "An endpoint MUST send an error code of FRAME_SIZE_ERROR if a
        // frame exceeds the size defined in SETTINGS_MAX_FRAME_SIZE".
        guard header.length <= maxFrameSize else {
            return .tooLarge(Rejection(.frameTooLarge, "\(header.type) frame of \(header.length) bytes exceeds SETTINGS_MAX_FRAME_SIZE \(maxFrameSize)"))
        }
        let end = offset + FrameHeader.size + header.length
        guard end <= input.count else { return .incomplete }
        return .frame(header, payload: UnsafeRawBufferPointer(rebasing: input[(offset + FrameHeader.size)..<end]), end: end)
    }

    public static func decode(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameDecoding {
        switch header.type {
        case .data: return data(header, payload)
        case .headers: return headers(header, payload)
        case .priority: return priority(header, payload)
        case .rstStream: return rstStream(header, payload)
        case .settings: return settings(header, payload)
        case .pushPromise: return .frame(.pushPromise(stream: header.streamID))
        case .ping: return ping(header, payload)
        case .goAway: return goAway(header, payload)
        case .windowUpdate: return windowUpdate(header, payload)
        case .continuation: return continuation(header, payload)
        case .priorityUpdate: return priorityUpdate(header, payload)
        default: return .frame(.unknown(header.type))
        }
    }

    // MARK: §6.1 DATA

    static func data(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameDecoding {
        // "If a DATA frame is received whose Stream Identifier field is 0x00,
        // the recipient MUST respond with a connection error of type PROTOCOL_ERROR."
        guard header.streamID != 0 else {
            return .connectionError(Rejection(.dataOnStreamZero, "DATA on stream 0"))
        }
        var data = payload
        if header.flags.contains(.padded) {
            guard payload.count >= 1 else {
                return .connectionError(Rejection(.paddedFrameTooShort, "PADDED DATA without a pad length"))
            }
            let padding = Int(payload[0])
            // "If the length of the padding is the length of the frame payload
            // or greater, the recipient MUST treat this as a connection error
            // of type PROTOCOL_ERROR."
            guard padding < payload.count else {
                return .connectionError(Rejection(.paddingTooLong, "DATA padding \(padding) ≥ payload \(payload.count)"))
            }
            data = UnsafeRawBufferPointer(rebasing: payload[1..<(payload.count - padding)])
        }
        return .frame(.data(stream: header.streamID, data: data, flowControlledLength: payload.count,
                            endStream: header.flags.contains(.endStream)))
    }

    // MARK: §6.2 HEADERS

    static func headers(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameDecoding {
        // "If a HEADERS frame is received whose Stream Identifier field is 0x00,
        // the recipient MUST respond with a connection error of type PROTOCOL_ERROR."
        guard header.streamID != 0 else {
            return .connectionError(Rejection(.headersOnStreamZero, "HEADERS on stream 0"))
        }
        var start = 0
        var padding = 0
        if header.flags.contains(.padded) {
            guard payload.count >= 1 else {
                return .connectionError(Rejection(.paddedFrameTooShort, "PADDED HEADERS without a pad length"))
            }
            padding = Int(payload[0])
            start = 1
        }
        var priority: PriorityFields?
        if header.flags.contains(.priority) {
            guard payload.count >= start + 5 else {
                return .connectionError(Rejection(.headersPriorityTooShort, "HEADERS with PRIORITY shorter than 5 bytes"))
            }
            priority = priorityFields(UnsafeRawBufferPointer(rebasing: payload[start..<(start + 5)]))
            start += 5
        }
        // "Padding that exceeds the size remaining for the field block fragment
        // MUST be treated as a PROTOCOL_ERROR."
        guard padding <= payload.count - start else {
            return .connectionError(Rejection(.paddingTooLong, "HEADERS padding \(padding) exceeds the payload"))
        }
        return .frame(.headers(stream: header.streamID, fragment: UnsafeRawBufferPointer(rebasing: payload[start..<(payload.count - padding)]),
                               endStream: header.flags.contains(.endStream), endHeaders: header.flags.contains(.endHeaders),
                               priority: priority))
    }

    // MARK: §6.3 PRIORITY

    static func priority(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameDecoding {
        // "If a PRIORITY frame is received with a stream identifier of 0x00,
        // the recipient MUST respond with a connection error of type PROTOCOL_ERROR."
        guard header.streamID != 0 else {
            return .connectionError(Rejection(.priorityOnStreamZero, "PRIORITY on stream 0"))
        }
        // "A PRIORITY frame with a length other than 5 octets MUST be treated
        // as a stream error of type FRAME_SIZE_ERROR."
        guard header.length == 5 else {
            return .streamError(header.streamID, Rejection(.priorityFrameSize, "PRIORITY of \(header.length) bytes"))
        }
        let fields = priorityFields(payload)
        // §5.3.1 (RFC 7540): "A stream cannot depend on itself. An endpoint
        // MUST treat this as a stream error of type PROTOCOL_ERROR."
        guard fields.dependency != header.streamID else {
            return .streamError(header.streamID, Rejection(.selfDependency, "stream \(header.streamID) depends on itself"))
        }
        return .frame(.priority(stream: header.streamID, fields))
    }

    static func priorityFields(_ bytes: UnsafeRawBufferPointer) -> PriorityFields {
        let word = bytes.readUInt32(at: 0)
        return PriorityFields(dependency: word & 0x7FFF_FFFF, exclusive: word & 0x8000_0000 != 0, weight: Int(bytes[4]) + 1)
    }

    // MARK: §6.4 RST_STREAM

    static func rstStream(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameDecoding {
        // "A RST_STREAM frame with a length other than 4 octets MUST be treated
        // as a connection error of type FRAME_SIZE_ERROR."
        guard header.length == 4 else {
            return .connectionError(Rejection(.rstStreamFrameSize, "RST_STREAM of \(header.length) bytes"))
        }
        // "If a RST_STREAM frame is received with a stream identifier of 0x0,
        // the recipient MUST treat this as a connection error of type PROTOCOL_ERROR."
        guard header.streamID != 0 else {
            return .connectionError(Rejection(.rstStreamOnStreamZero, "RST_STREAM on stream 0"))
        }
        return .frame(.rstStream(stream: header.streamID, code: ErrorCode(rawValue: payload.readUInt32(at: 0))))
    }

    // MARK: §6.5 SETTINGS

    static func settings(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameDecoding {
        // "If an endpoint receives a SETTINGS frame whose Stream Identifier field
        // is anything other than 0x00, the endpoint MUST respond with a
        // connection error of type PROTOCOL_ERROR."
        guard header.streamID == 0 else {
            return .connectionError(Rejection(.settingsOnStream, "SETTINGS on stream \(header.streamID)"))
        }
        if header.flags.contains(.ack) {
            // "Receipt of a SETTINGS frame with the ACK flag set and a length
            // field value other than 0 MUST be treated as a connection error of
            // type FRAME_SIZE_ERROR."
            guard header.length == 0 else {
                return .connectionError(Rejection(.settingsAckWithPayload, "SETTINGS ACK with \(header.length) bytes"))
            }
            return .frame(.settingsAck)
        }
        // "A SETTINGS frame with a length other than a multiple of 6 octets MUST
        // be treated as a connection error of type FRAME_SIZE_ERROR."
        guard header.length % 6 == 0 else {
            return .connectionError(Rejection(.settingsFrameSize, "SETTINGS of \(header.length) bytes"))
        }
        return .frame(.settings(SettingsEntries(payload: payload)))
    }

    // MARK: §6.7 PING

    static func ping(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameDecoding {
        // "Receipt of a PING frame with a length field value other than 8 MUST
        // be treated as a connection error of type FRAME_SIZE_ERROR."
        guard header.length == 8 else {
            return .connectionError(Rejection(.pingFrameSize, "PING of \(header.length) bytes"))
        }
        // "If a PING frame is received with a Stream Identifier field value other
        // than 0x00, the recipient MUST respond with a connection error of type
        // PROTOCOL_ERROR."
        guard header.streamID == 0 else {
            return .connectionError(Rejection(.pingOnStream, "PING on stream \(header.streamID)"))
        }
        let opaque = UInt64(payload.readUInt32(at: 0)) << 32 | UInt64(payload.readUInt32(at: 4))
        return .frame(.ping(opaque: opaque, ack: header.flags.contains(.ack)))
    }

    // MARK: §6.8 GOAWAY

    static func goAway(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameDecoding {
        // "An endpoint MUST treat a GOAWAY frame with a stream identifier other
        // than 0x00 as a connection error of type PROTOCOL_ERROR."
        guard header.streamID == 0 else {
            return .connectionError(Rejection(.goAwayOnStream, "GOAWAY on stream \(header.streamID)"))
        }
        // The fixed fields take 8 octets (§6.8, Figure 10).
        guard header.length >= 8 else {
            return .connectionError(Rejection(.goAwayFrameSize, "GOAWAY of \(header.length) bytes"))
        }
        return .frame(.goAway(lastStreamID: payload.readUInt32(at: 0) & 0x7FFF_FFFF, code: ErrorCode(rawValue: payload.readUInt32(at: 4)),
                              debug: UnsafeRawBufferPointer(rebasing: payload[8...])))
    }

    // MARK: §6.9 WINDOW_UPDATE

    static func windowUpdate(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameDecoding {
        // "A WINDOW_UPDATE frame with a length other than 4 octets MUST be
        // treated as a connection error of type FRAME_SIZE_ERROR."
        guard header.length == 4 else {
            return .connectionError(Rejection(.windowUpdateFrameSize, "WINDOW_UPDATE of \(header.length) bytes"))
        }
        return .frame(.windowUpdate(stream: header.streamID, increment: Int(payload.readUInt32(at: 0) & 0x7FFF_FFFF)))
    }

    // MARK: §6.10 CONTINUATION

    static func continuation(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameDecoding {
        // A CONTINUATION on stream 0 cannot continue any header block; the
        // connection rejects it as out of sequence (§6.10).
        .frame(.continuation(stream: header.streamID, fragment: payload, endHeaders: header.flags.contains(.endHeaders)))
    }

    // MARK: RFC 9218 §7.1 PRIORITY_UPDATE

    static func priorityUpdate(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameDecoding {
        // "PRIORITY_UPDATE frames ... MUST be sent on stream 0 ... an endpoint
        // that receives one with a stream identifier other than 0x00 MUST
        // respond with a connection error of type PROTOCOL_ERROR."
        guard header.streamID == 0 else {
            return .connectionError(Rejection(.priorityUpdateStream, "PRIORITY_UPDATE on stream \(header.streamID)"))
        }
        // The Prioritized Stream ID takes 4 octets (§7.1, Figure 2).
        guard header.length >= 4 else {
            return .connectionError(Rejection(.priorityUpdateSize, "PRIORITY_UPDATE shorter than 4 bytes"))
        }
        let prioritized = payload.readUInt32(at: 0) & 0x7FFF_FFFF
        // "If a PRIORITY_UPDATE frame is received with a Prioritized Stream ID
        // of 0x00, the recipient MUST respond with a connection error of type
        // PROTOCOL_ERROR."
        guard prioritized != 0 else {
            return .connectionError(Rejection(.priorityUpdateStreamZero, "PRIORITY_UPDATE for stream 0"))
        }
        return .frame(.priorityUpdate(prioritized: prioritized, fieldValue: UnsafeRawBufferPointer(rebasing: payload[4...])))
    }
}
