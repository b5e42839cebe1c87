@testable import SwiftletHTTP2
import Testing

/// The next DATA frame's length (RFC 9113 §6.9, §4.2) and the window-dribble
/// hold, without a connection.
@Suite("DATA frame sizing and window dribble (RFC 9113 §6.9, §10.5)")
struct DataFrameSizingTests {
    /// 10 000 bytes queued, windows wide open, a 16 KiB frame limit, a
    /// whole turn's budget, the end queued, no trailers.
    let plenty = DataFrameSizing(pending: 10_000, streamWindow: 65_535, connectionWindow: 1 << 20, frameLimit: 16_384,
                                 budget: 256 * 1024, moreToCome: false, endQueued: true, hasTrailers: false)

    @Test("§6.9: never longer than the queued body, either window, the frame limit or the turn's budget")
    func smallestBoundWins() {
        #expect(plenty.next == .frame(length: 10_000, endStream: true, cutByWindow: false))
        var sizing = plenty
        sizing.streamWindow = 3000
        #expect(sizing.next == .frame(length: 3000, endStream: false, cutByWindow: true))
        sizing = plenty
        sizing.connectionWindow = 2000
        #expect(sizing.next == .frame(length: 2000, endStream: false, cutByWindow: true))
        sizing = plenty
        sizing.pending = 40_000
        #expect(sizing.next == .frame(length: 16_384, endStream: false, cutByWindow: false))
        sizing = plenty
        sizing.budget = 500
        #expect(sizing.next == .frame(length: 500, endStream: false, cutByWindow: false))
    }

    @Test("a closed window (either one) blocks the stream until WINDOW_UPDATE")
    func blocked() {
        var sizing = plenty
        sizing.streamWindow = 0
        #expect(sizing.next == .blocked)
        sizing = plenty
        sizing.connectionWindow = -100  // a SETTINGS change can make a window negative (§6.9.2)
        #expect(sizing.next == .blocked)
    }

    @Test("END_STREAM rides on the frame that takes the last queued byte, unless trailers end the stream")
    func endStream() {
        var sizing = plenty
        sizing.endQueued = false
        #expect(sizing.next == .frame(length: 10_000, endStream: false, cutByWindow: false))
        sizing = plenty
        sizing.hasTrailers = true
        #expect(sizing.next == .frame(length: 10_000, endStream: false, cutByWindow: false))
    }

    @Test("a window that exactly fits the queued bytes cuts the frame only if a source has more to come")
    func windowExactlyFits() {
        var sizing = plenty
        sizing.streamWindow = 10_000
        #expect(sizing.next == .frame(length: 10_000, endStream: true, cutByWindow: false))
        sizing.endQueued = false
        sizing.moreToCome = true
        #expect(sizing.next == .frame(length: 10_000, endStream: false, cutByWindow: true))
    }

    @Test("window dribble: the first tiny frame goes at once; each later one is held once, then sent and counted")
    func dribble() {
        var dribble = WindowDribble()
        #expect(dribble.tinyFrame(now: 100, delay: 20) == .send)
        dribble.frameSent()
        #expect(dribble.tinyFrame(now: 200, delay: 20) == .hold(until: 220))
        #expect(dribble.isHeld(now: 219))
        #expect(!dribble.isHeld(now: 220))
        #expect(dribble.tinyFrame(now: 220, delay: 20) == .sendAndCount)
        dribble.frameSent()
        #expect(dribble.heldUntil == 0)
        #expect(dribble.tinyFrame(now: 300, delay: 20) == .hold(until: 320), "held again after a frame went")
    }
}
