@testable import SwiftletHTTP2
import Testing

/// The frame decoder alone: bytes of one frame in, a typed frame or the
/// error RFC 9113 requires out. Each case is a frame and its expected outcome.
@Suite("Frame decoder (RFC 9113 §4, §6; RFC 9218 §7.1)")
struct FrameDecoderTests {
    enum Outcome: Equatable {
        case frame(String)
        case streamError(UInt32, ErrorCode, String)
        case connectionError(ErrorCode, String)
    }

    /// Decodes `type`/`flags`/`stream` with `payload` and describes the result.
    func decode(_ type: FrameType, flags: FrameFlags = [], stream: UInt32, _ payload: [UInt8]) -> Outcome {
        let header = FrameHeader(length: payload.count, type: type, flags: flags, streamID: stream)
        return payload.withUnsafeBytes { bytes in
            switch FrameDecoder.decode(header, bytes) {
            case .frame(let frame): return .frame(Self.describe(frame))
            case .streamError(let id, let rejection): return .streamError(id, rejection.code, rejection.token)
            case .connectionError(let rejection): return .connectionError(rejection.code, rejection.token)
            }
        }
    }

    static func describe(_ frame: InboundFrame) -> String {
        func text(_ bytes: UnsafeRawBufferPointer) -> String { String(decoding: bytes, as: UTF8.self) }
        switch frame {
        case .data(let s, let d, let l, let e): return "DATA \(s) \"\(text(d))\" counted \(l)\(e ? " END_STREAM" : "")"
        case .headers(let s, let f, let es, let eh, let p):
            return "HEADERS \(s) \"\(text(f))\"\(es ? " END_STREAM" : "")\(eh ? " END_HEADERS" : "")"
                + (p.map { " dep \($0.dependency)\($0.exclusive ? " exclusive" : "") weight \($0.weight)" } ?? "")
        case .priority(let s, let p): return "PRIORITY \(s) dep \(p.dependency) weight \(p.weight)"
        case .rstStream(let s, let c): return "RST_STREAM \(s) \(c)"
        case .settings(let entries): return "SETTINGS " + entries.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        case .settingsAck: return "SETTINGS ACK"
        case .pushPromise(let s): return "PUSH_PROMISE \(s)"
        case .ping(let o, let a): return "PING \(o)\(a ? " ACK" : "")"
        case .goAway(let l, let c, let d): return "GOAWAY \(l) \(c) \"\(text(d))\""
        case .windowUpdate(let s, let i): return "WINDOW_UPDATE \(s) \(i)"
        case .continuation(let s, let f, let e): return "CONTINUATION \(s) \"\(text(f))\"\(e ? " END_HEADERS" : "")"
        case .priorityUpdate(let p, let v): return "PRIORITY_UPDATE \(p) \"\(text(v))\""
        case .unknown(let t): return "UNKNOWN \(t.rawValue)"
        }
    }

    func u32(_ value: UInt32) -> [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }

    /// How `FrameDecoder.split` cuts `bytes` from `offset`.
    func split(_ bytes: [UInt8], at offset: Int = 0, maxFrameSize: Int = 16_384) -> String {
        bytes.withUnsafeBytes { raw in
            switch FrameDecoder.split(raw, at: offset, maxFrameSize: maxFrameSize) {
            case .incomplete: return "incomplete"
            case .frame(let header, let payload, let end): return "\(header.type) \(header.streamID) payload \(Array(payload)) end \(end)"
            case .tooLarge(let rejection): return "\(rejection.code) \(rejection.token): \(rejection.reason)"
            }
        }
    }

    @Test("§4.1, §4.2: a frame is cut out of the receive buffer once whole; a length above SETTINGS_MAX_FRAME_SIZE is refused from its header alone")
    func splitting() {
        let ping: [UInt8] = [0, 0, 8, 0x6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
        #expect(split(Array(ping.prefix(8))) == "incomplete")
        #expect(split(Array(ping.prefix(16))) == "incomplete")
        #expect(split(ping) == "PING 0 payload [1, 2, 3, 4, 5, 6, 7, 8] end 17")
        #expect(split([0xFF] + ping, at: 1) == "PING 0 payload [1, 2, 3, 4, 5, 6, 7, 8] end 18")
        #expect(split(ping + [0, 0], at: 17) == "incomplete")
        let big: [UInt8] = [0, 0x40, 0x01, 0x0, 0, 0, 0, 0, 1]  // DATA of 16,385 bytes, header only
        #expect(split(big) == "FRAME_SIZE_ERROR frame_too_large: DATA frame of 16385 bytes exceeds SETTINGS_MAX_FRAME_SIZE 16384")
        #expect(split(big, maxFrameSize: 16_385) == "incomplete")
    }

    @Test("DATA: padding is stripped but counted; stream 0 and bad padding are connection errors")
    func data() {
        #expect(decode(.data, flags: .endStream, stream: 1, Array("abc".utf8)) == .frame("DATA 1 \"abc\" counted 3 END_STREAM"))
        #expect(decode(.data, flags: .padded, stream: 1, [2] + Array("abc".utf8) + [0, 0]) == .frame("DATA 1 \"abc\" counted 6"))
        #expect(decode(.data, stream: 0, [1]) == .connectionError(.protocolError, "data_on_stream_zero"))
        #expect(decode(.data, flags: .padded, stream: 1, []) == .connectionError(.frameSizeError, "padded_frame_too_short"))
        // §6.1: padding as long as the payload or longer.
        #expect(decode(.data, flags: .padded, stream: 1, [3, 0, 0]) == .connectionError(.protocolError, "padding_too_long"))
        #expect(decode(.data, flags: .padded, stream: 1, [2, 0, 0]) == .frame("DATA 1 \"\" counted 3"))
    }

    @Test("HEADERS: padding and priority fields are parsed off the fragment")
    func headers() {
        #expect(decode(.headers, flags: [.endHeaders, .endStream], stream: 1, Array("blk".utf8))
                == .frame("HEADERS 1 \"blk\" END_STREAM END_HEADERS"))
        #expect(decode(.headers, flags: [.padded, .priority], stream: 3, [1] + u32(0x8000_0001) + [15] + Array("b".utf8) + [0])
                == .frame("HEADERS 3 \"b\" dep 1 exclusive weight 16"))
        #expect(decode(.headers, stream: 0, []) == .connectionError(.protocolError, "headers_on_stream_zero"))
        #expect(decode(.headers, flags: .priority, stream: 1, [0, 0, 0, 1]) == .connectionError(.frameSizeError, "headers_priority_too_short"))
        #expect(decode(.headers, flags: .padded, stream: 1, [2, 0]) == .connectionError(.protocolError, "padding_too_long"))
        #expect(decode(.headers, flags: .padded, stream: 1, []) == .connectionError(.frameSizeError, "padded_frame_too_short"))
    }

    @Test("PRIORITY: 5 bytes, not stream 0, not self-dependent")
    func priority() {
        #expect(decode(.priority, stream: 3, u32(1) + [255]) == .frame("PRIORITY 3 dep 1 weight 256"))
        #expect(decode(.priority, stream: 0, u32(1) + [0]) == .connectionError(.protocolError, "priority_on_stream_zero"))
        #expect(decode(.priority, stream: 3, u32(1)) == .streamError(3, .frameSizeError, "priority_frame_size"))
        #expect(decode(.priority, stream: 3, u32(3) + [0]) == .streamError(3, .protocolError, "self_dependency"))
    }

    @Test("RST_STREAM: 4 bytes, not stream 0")
    func rstStream() {
        #expect(decode(.rstStream, stream: 1, u32(8)) == .frame("RST_STREAM 1 CANCEL"))
        #expect(decode(.rstStream, stream: 1, u32(8) + [0]) == .connectionError(.frameSizeError, "rst_stream_frame_size"))
        #expect(decode(.rstStream, stream: 0, u32(8)) == .connectionError(.protocolError, "rst_stream_on_stream_zero"))
    }

    @Test("SETTINGS: stream 0, a multiple of 6 bytes, an empty ACK")
    func settings() {
        #expect(decode(.settings, stream: 0, [0, 4] + u32(100) + [0, 0x99] + u32(1))
                == .frame("SETTINGS SETTINGS_INITIAL_WINDOW_SIZE=100,SETTINGS_UNKNOWN(0x99)=1"))
        #expect(decode(.settings, flags: .ack, stream: 0, []) == .frame("SETTINGS ACK"))
        #expect(decode(.settings, flags: .ack, stream: 0, [0]) == .connectionError(.frameSizeError, "settings_ack_with_payload"))
        #expect(decode(.settings, stream: 0, [0, 4, 0]) == .connectionError(.frameSizeError, "settings_frame_size"))
        #expect(decode(.settings, stream: 1, []) == .connectionError(.protocolError, "settings_on_stream"))
    }

    @Test("PING, GOAWAY, WINDOW_UPDATE: fixed sizes and stream 0 rules")
    func controlFrames() {
        #expect(decode(.ping, flags: .ack, stream: 0, u32(0) + u32(7)) == .frame("PING 7 ACK"))
        #expect(decode(.ping, stream: 0, u32(0)) == .connectionError(.frameSizeError, "ping_frame_size"))
        #expect(decode(.ping, stream: 1, u32(0) + u32(0)) == .connectionError(.protocolError, "ping_on_stream"))
        #expect(decode(.goAway, stream: 0, u32(5) + u32(0) + Array("bye".utf8)) == .frame("GOAWAY 5 NO_ERROR \"bye\""))
        #expect(decode(.goAway, stream: 0, u32(5)) == .connectionError(.frameSizeError, "goaway_frame_size"))
        #expect(decode(.goAway, stream: 1, u32(5) + u32(0)) == .connectionError(.protocolError, "goaway_on_stream"))
        // The reserved bit is dropped; an increment of 0 is judged by the connection.
        #expect(decode(.windowUpdate, stream: 1, u32(0x8000_0010)) == .frame("WINDOW_UPDATE 1 16"))
        #expect(decode(.windowUpdate, stream: 0, u32(0)) == .frame("WINDOW_UPDATE 0 0"))
        #expect(decode(.windowUpdate, stream: 1, [0, 0, 1]) == .connectionError(.frameSizeError, "window_update_frame_size"))
    }

    @Test("PRIORITY_UPDATE (RFC 9218 §7.1): stream 0, 4 bytes at least, a prioritized stream that is not 0")
    func priorityUpdate() {
        #expect(decode(.priorityUpdate, stream: 0, u32(5) + Array("u=1".utf8)) == .frame("PRIORITY_UPDATE 5 \"u=1\""))
        #expect(decode(.priorityUpdate, stream: 1, u32(5)) == .connectionError(.protocolError, "priority_update_stream"))
        #expect(decode(.priorityUpdate, stream: 0, [0, 0]) == .connectionError(.frameSizeError, "priority_update_size"))
        #expect(decode(.priorityUpdate, stream: 0, u32(0)) == .connectionError(.protocolError, "priority_update_stream_zero"))
    }

    @Test("CONTINUATION, PUSH_PROMISE and unknown types are passed on for the connection to judge")
    func passedOn() {
        #expect(decode(.continuation, flags: .endHeaders, stream: 1, Array("x".utf8)) == .frame("CONTINUATION 1 \"x\" END_HEADERS"))
        #expect(decode(.pushPromise, stream: 1, u32(2)) == .frame("PUSH_PROMISE 1"))
        #expect(decode(FrameType(rawValue: 0xF0), stream: 7, [1, 2, 3]) == .frame("UNKNOWN 240"))
    }
}
