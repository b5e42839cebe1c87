import SwiftletLoop

/// Writing frames into a transport's output, in place: the "do" beside the
/// engine's "decide". Layouts are `FrameEncoder`'s; what to send, and when,
/// is the engine's business. (Inlined: called on the engine's existential
/// transport, a generic extension method would run unspecialized.)
extension HTTP2Transport {
    /// A frame header whose payload the caller writes next (DATA, a header
    /// block fragment).
    @inline(__always)
    func writeFrameHeader(_ header: FrameHeader) {
        writeInPlace(minimumCapacity: FrameHeader.size) { buffer in
            header.write(to: buffer.baseAddress!)
            return FrameHeader.size
        }
    }

    @inline(__always)
    func writeSettings(_ parameters: [(SettingsParameter, UInt32)]) {
        writeInPlace(minimumCapacity: FrameEncoder.settingsSize(parameterCount: parameters.count)) {
            FrameEncoder.writeSettings(parameters, to: $0.baseAddress!)
        }
    }

    @inline(__always)
    func writeSettingsAck() {
        writeInPlace(minimumCapacity: FrameEncoder.settingsAckSize) { FrameEncoder.writeSettingsAck(to: $0.baseAddress!) }
    }

    @inline(__always)
    func writeWindowUpdate(streamID: UInt32, increment: Int) {
        writeInPlace(minimumCapacity: FrameEncoder.windowUpdateSize) {
            FrameEncoder.writeWindowUpdate(streamID: streamID, increment: UInt32(increment), to: $0.baseAddress!)
        }
    }

    @inline(__always)
    func writeRstStream(streamID: UInt32, code: ErrorCode) {
        writeInPlace(minimumCapacity: FrameEncoder.rstStreamSize) {
            FrameEncoder.writeRstStream(streamID: streamID, code: code, to: $0.baseAddress!)
        }
    }

    @inline(__always)
    func writePing(payload opaque: UInt64, ack: Bool) {
        writeInPlace(minimumCapacity: FrameEncoder.pingSize) { FrameEncoder.writePing(opaque, ack: ack, to: $0.baseAddress!) }
    }

    /// GOAWAY with at most 1 KiB of `debug` (a rejection's reason).
    @inline(__always)
    func writeGoAway(lastStreamID: UInt32, code: ErrorCode, debug: String) {
        var debug = debug
        debug.withUTF8 { text in
            let debugBytes = min(text.count, 1024)
            writeInPlace(minimumCapacity: FrameEncoder.goAwayFixedSize) {
                FrameEncoder.writeGoAway(lastStreamID: lastStreamID, code: code, debugLength: debugBytes, to: $0.baseAddress!)
            }
            if debugBytes > 0 { write(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(text)[0..<debugBytes])) }
        }
    }

    /// `block` as HEADERS plus CONTINUATION frames no larger than
    /// `maxFrameSize` (the peer's SETTINGS_MAX_FRAME_SIZE).
    @inline(__always)
    func writeHeaderBlock(streamID: UInt32, block: UnsafeRawBufferPointer, endStream: Bool, maxFrameSize: Int) {
        FrameEncoder.splitHeaderBlock(length: block.count, streamID: streamID, endStream: endStream,
                                      maxFrameSize: maxFrameSize) { header, range in
            writeFrameHeader(header)
            if !range.isEmpty { write(UnsafeRawBufferPointer(rebasing: block[range])) }
        }
    }
}
