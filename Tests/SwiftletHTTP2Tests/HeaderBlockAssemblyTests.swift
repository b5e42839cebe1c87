@testable import SwiftletHTTP2
import Testing

/// A header block collected from HEADERS and CONTINUATION frames, without a
/// connection: what completes it, what may not come between its pieces, and
/// the bounds on a CONTINUATION flood.
@Suite("Header blocks in pieces (RFC 9113 §4.3, §6.10)")
struct HeaderBlockAssemblyTests {
    var assembly = HeaderBlockAssembly()
    /// A 3-byte field list limit: blocks of at most 12 raw bytes (4 × the
    /// list limit) in at most 5 CONTINUATION frames (the floor).
    let limits = { var limits = Limits(); limits.maxHeaderListSize = 3; return limits }()

    static func block(stream: UInt32 = 1) -> HeaderBlockAssembly.Block {
        HeaderBlockAssembly.Block(streamID: stream, endStream: true, selfDependent: false, weight: 16)
    }

    mutating func begin(_ text: String, stream: UInt32 = 1) -> Rejection? {
        Array(text.utf8).withUnsafeBytes { assembly.begin(Self.block(stream: stream), fragment: $0, limits: limits) }
    }

    mutating func continuation(_ text: String, endHeaders: Bool) -> HeaderBlockAssembly.Outcome {
        Array(text.utf8).withUnsafeBytes { assembly.continuation($0, endHeaders: endHeaders, limits: limits) }
    }

    var bytes: String { assembly.withBytes { String(decoding: $0, as: UTF8.self) } }

    @Test("HEADERS then CONTINUATION until END_HEADERS: the pieces joined, and what HEADERS said about the block")
    mutating func complete() {
        #expect(begin("ab") == nil)
        #expect(continuation("cd", endHeaders: false) == .continuing)
        var expected = Self.block()
        expected.continuations = 2
        #expect(continuation("ef", endHeaders: true) == .complete(expected))
        #expect(bytes == "abcdef")
        #expect(assembly.current == nil)
        // The buffer is reused: the next block starts empty.
        #expect(begin("x", stream: 3) == nil)
        #expect(continuation("y", endHeaders: true) == .complete({ var b = Self.block(stream: 3); b.continuations = 1; return b }()))
        #expect(bytes == "xy")
    }

    @Test("§6.10: any other frame, or a CONTINUATION of another stream, inside a block is PROTOCOL_ERROR; so is a CONTINUATION after none")
    mutating func interruptions() {
        #expect(assembly.interrupted(by: .data, streamID: 1) == nil, "no block in progress")
        #expect(continuation("x", endHeaders: true) == .rejected(Rejection(.unexpectedContinuation, "CONTINUATION without a preceding HEADERS")))
        #expect(begin("ab") == nil)
        #expect(assembly.interrupted(by: .continuation, streamID: 1) == nil)
        #expect(assembly.interrupted(by: .continuation, streamID: 3)?.violation == .interleavedHeaderBlock)
        #expect(assembly.interrupted(by: .ping, streamID: 0)?.violation == .interleavedHeaderBlock)
        #expect(assembly.interrupted(by: .headers, streamID: 1)?.code == .protocolError)
    }

    @Test("CONTINUATION flood: more frames than allowed, or more bytes, end the connection")
    mutating func floods() {
        #expect(begin("a") == nil)
        #expect(limits.maxContinuationFrames == 5 && limits.maxHeaderBlockBytes == 12)
        for _ in 0..<5 { #expect(continuation("", endHeaders: false) == .continuing) }
        #expect(continuation("", endHeaders: false) == .rejected(Rejection(.continuationFlood, "more than 5 CONTINUATION frames")))

        assembly = HeaderBlockAssembly()
        #expect(begin("0123456789abc")?.violation == .headerBlockTooLarge)
        #expect(begin("012345") == nil)
        #expect(continuation("6789abc", endHeaders: true) == .rejected(Rejection(.headerBlockTooLarge, "header block exceeds 12 bytes")))
    }
}
