@testable import SwiftletHTTP2
import Testing

/// The frame encoder alone: each frame the server writes, byte for byte as
/// RFC 9113 §6 lays it out, and read back by the frame decoder as the same
/// frame.
@Suite("Frame encoder (RFC 9113 §4.3, §6)")
struct FrameEncoderTests {
    /// The bytes `write` produces, checking it wrote exactly `size` of them.
    func encoded(size: Int, _ write: (UnsafeMutableRawPointer) -> Int) -> [UInt8] {
        let bytes = FrameClient.encoded(size: size, write)
        #expect(bytes.count == size)
        return bytes
    }

    /// How the decoder reads `bytes` (one whole frame).
    func decoded(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { raw in
            let header = FrameHeader(parsing: raw)
            #expect(header.length == raw.count - FrameHeader.size, "the header announces the payload written")
            switch FrameDecoder.decode(header, UnsafeRawBufferPointer(rebasing: raw[FrameHeader.size...])) {
            case .frame(let frame): return FrameDecoderTests.describe(frame)
            case .streamError(let id, let rejection): return "stream error \(id) \(rejection.token)"
            case .connectionError(let rejection): return "connection error \(rejection.token)"
            }
        }
    }

    @Test("SETTINGS: six bytes per parameter on stream 0; the ACK is empty")
    func settings() {
        let frame = encoded(size: FrameEncoder.settingsSize(parameterCount: 2)) {
            FrameEncoder.writeSettings([(.maxConcurrentStreams, 100), (.initialWindowSize, 0x0102_0304)], to: $0)
        }
        #expect(frame == [0, 0, 12, 0x4, 0, 0, 0, 0, 0,
                          0, 3, 0, 0, 0, 100,
                          0, 4, 1, 2, 3, 4])
        #expect(decoded(frame) == "SETTINGS SETTINGS_MAX_CONCURRENT_STREAMS=100,SETTINGS_INITIAL_WINDOW_SIZE=16909060")
        let ack = encoded(size: FrameEncoder.settingsAckSize) { FrameEncoder.writeSettingsAck(to: $0) }
        #expect(ack == [0, 0, 0, 0x4, 0x1, 0, 0, 0, 0])
        #expect(decoded(ack) == "SETTINGS ACK")
    }

    @Test("WINDOW_UPDATE, RST_STREAM and PING: fixed sizes, big-endian values")
    func fixedSize() {
        let update = encoded(size: FrameEncoder.windowUpdateSize) { FrameEncoder.writeWindowUpdate(streamID: 5, increment: 65_535, to: $0) }
        #expect(update == [0, 0, 4, 0x8, 0, 0, 0, 0, 5, 0, 0, 0xFF, 0xFF])
        #expect(decoded(update) == "WINDOW_UPDATE 5 65535")
        let reset = encoded(size: FrameEncoder.rstStreamSize) { FrameEncoder.writeRstStream(streamID: 7, code: .cancel, to: $0) }
        #expect(reset == [0, 0, 4, 0x3, 0, 0, 0, 0, 7, 0, 0, 0, 0x8])
        #expect(decoded(reset) == "RST_STREAM 7 CANCEL")
        let ping = encoded(size: FrameEncoder.pingSize) { FrameEncoder.writePing(0x0102_0304_0506_0708, ack: true, to: $0) }
        #expect(ping == [0, 0, 8, 0x6, 0x1, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8])
        #expect(decoded(ping) == "PING 72623859790382856 ACK")
    }

    @Test("GOAWAY: the header announces the debug data that follows the fixed part; the reserved bit is cleared")
    func goAway() {
        var frame = encoded(size: FrameEncoder.goAwayFixedSize) {
            FrameEncoder.writeGoAway(lastStreamID: 0x8000_0003, code: .enhanceYourCalm, debugLength: 3, to: $0)
        }
        #expect(frame == [0, 0, 11, 0x7, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0xB])
        frame += Array("why".utf8)
        #expect(decoded(frame) == "GOAWAY 3 ENHANCE_YOUR_CALM \"why\"")
    }

    /// The frames `splitHeaderBlock` makes of a block of `length` bytes.
    func split(length: Int, endStream: Bool, maxFrameSize: Int = 16_384) -> [String] {
        var frames: [String] = []
        FrameEncoder.splitHeaderBlock(length: length, streamID: 1, endStream: endStream, maxFrameSize: maxFrameSize) { header, range in
            #expect(header.length == range.count)
            let flags = (header.flags.contains(.endStream) ? " END_STREAM" : "") + (header.flags.contains(.endHeaders) ? " END_HEADERS" : "")
            frames.append("\(header.type == .headers ? "HEADERS" : "CONTINUATION") \(range)\(flags)")
        }
        return frames
    }

    @Test("§4.3: a header block is a HEADERS frame then CONTINUATION frames within the peer's frame size; END_STREAM on the first, END_HEADERS on the last")
    func headerBlocks() {
        #expect(split(length: 100, endStream: true) == ["HEADERS 0..<100 END_STREAM END_HEADERS"])
        #expect(split(length: 0, endStream: false) == ["HEADERS 0..<0 END_HEADERS"])
        #expect(split(length: 40_000, endStream: true) == [
            "HEADERS 0..<16384 END_STREAM",
            "CONTINUATION 16384..<32768",
            "CONTINUATION 32768..<40000 END_HEADERS",
        ])
        #expect(split(length: 32_768, endStream: false) == ["HEADERS 0..<16384", "CONTINUATION 16384..<32768 END_HEADERS"])
    }
}
