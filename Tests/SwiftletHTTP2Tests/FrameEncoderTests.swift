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

    // MARK: into a transport (HTTP2Transport+Frames)

    @Test("GOAWAY into a transport: the debug data is cut at 1 KiB and the header announces what follows")
    func goAwayIntoTransport() {
        let transport = MemoryTransport()
        transport.writeGoAway(lastStreamID: 9, code: .protocolError, debug: String(repeating: "x", count: 3000))
        let frame = transport.takeOutput()
        #expect(frame.count == FrameEncoder.goAwayFixedSize + 1024)
        #expect(decoded(frame) == "GOAWAY 9 PROTOCOL_ERROR \"\(String(repeating: "x", count: 1024))\"")
    }

    @Test("a header block into a transport: HEADERS then CONTINUATION, each header followed by its piece of the block")
    func headerBlockIntoTransport() {
        let transport = MemoryTransport()
        let block = (0..<20_000).map { UInt8(truncatingIfNeeded: $0) }
        block.withUnsafeBytes { transport.writeHeaderBlock(streamID: 3, block: $0, endStream: true, maxFrameSize: 16_384) }
        let output = transport.takeOutput()
        #expect(output.count == 20_000 + 2 * FrameHeader.size)
        let first = output.withUnsafeBytes { FrameHeader(parsing: $0) }
        #expect(first.type == .headers && first.length == 16_384 && first.flags == .endStream && first.streamID == 3)
        #expect(Array(output[FrameHeader.size..<FrameHeader.size + 16_384]) == Array(block[0..<16_384]))
        let secondAt = FrameHeader.size + 16_384
        let second = output.withUnsafeBytes { FrameHeader(parsing: UnsafeRawBufferPointer(rebasing: $0[secondAt...])) }
        #expect(second.type == .continuation && second.length == 20_000 - 16_384 && second.flags == .endHeaders)
        #expect(Array(output[(secondAt + FrameHeader.size)...]) == Array(block[16_384...]))
    }

    @Test("§3.4 preface SETTINGS: the limits a client must know, plus each setting that differs from §6.5.2's default")
    func advertisedSettings() {
        func names(_ limits: Limits) -> [String] { limits.advertisedSettings.map { "\($0.0)=\($0.1)" } }
        var limits = Limits()
        limits.maxConcurrentStreams = 100
        limits.maxHeaderListSize = 65_536
        limits.initialStreamWindowSize = 65_535
        limits.maxFrameSize = 16_384
        limits.headerTableSize = 4096
        limits.enableConnectProtocol = false
        #expect(names(limits) == ["SETTINGS_MAX_CONCURRENT_STREAMS=100", "SETTINGS_MAX_HEADER_LIST_SIZE=65536",
                                  "SETTINGS_NO_RFC7540_PRIORITIES=1"])
        limits.initialStreamWindowSize = 1 << 20
        limits.maxFrameSize = 32_768
        limits.headerTableSize = 0
        limits.enableConnectProtocol = true
        #expect(names(limits) == ["SETTINGS_MAX_CONCURRENT_STREAMS=100", "SETTINGS_MAX_HEADER_LIST_SIZE=65536",
                                  "SETTINGS_NO_RFC7540_PRIORITIES=1", "SETTINGS_INITIAL_WINDOW_SIZE=1048576",
                                  "SETTINGS_MAX_FRAME_SIZE=32768", "SETTINGS_HEADER_TABLE_SIZE=0",
                                  "SETTINGS_ENABLE_CONNECT_PROTOCOL=1"])
    }

    @Test("a configuration's preface SETTINGS follow its limits as they change, and copies keep their own")
    func configurationSettingsFollowLimits() {
        var configuration = HTTP2Configuration()
        let untouched = configuration
        #expect(configuration.advertisedSettings.map(\.1) == Limits().advertisedSettings.map(\.1))
        configuration.limits.maxConcurrentStreams = 7
        configuration.limits.maxFrameSize = 32_768
        #expect(configuration.limits.maxConcurrentStreams == 7)
        #expect(configuration.advertisedSettings.map { "\($0.0)=\($0.1)" } == configuration.limits.advertisedSettings.map { "\($0.0)=\($0.1)" })
        #expect(configuration.advertisedSettings.contains { $0.0 == .maxConcurrentStreams && $0.1 == 7 })
        #expect(untouched.limits.maxConcurrentStreams == Limits().maxConcurrentStreams, "a copy made before is not changed")
        #expect(!untouched.advertisedSettings.contains { $0.0 == .maxFrameSize })
    }
}
