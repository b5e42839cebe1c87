@testable import SwiftletHTTP2
import Testing

/// §6.9 as values: the receiving window and the sending window.
@Suite("Flow-control windows (RFC 9113 §6.9)")
struct FlowControlTests {
    @Test("a frame larger than what is available is refused and changes nothing")
    func take() {
        var window = InboundWindow(100)
        let check1 = window.take(60)
        #expect(check1)
        let check2 = !window.take(41)
        #expect(check2)
        #expect(window.available == 40)
        let check3 = window.take(40) && window.available == 0
        #expect(check3)
    }

    @Test("credit goes back once half the window (at least 4 KiB) is consumed")
    func batching() {
        var window = InboundWindow(65_535)
        let check4 = window.take(40_000)
        #expect(check4)
        let check5 = window.consumed(30_000) == nil
        #expect(check5)
        #expect(window.unacknowledged == 30_000)
        let check6 = window.consumed(5_000) == 35_000
        #expect(check6)
        #expect(window.available == 25_535 + 35_000 && window.unacknowledged == 0)
        var small = InboundWindow(1000)
        let check7 = small.take(1000)
        #expect(check7)
        let check8 = small.consumed(1000) == nil
        #expect(check8, "below 4 KiB: no WINDOW_UPDATE of a few bytes")
    }

    @Test("raising the window sends the growth plus unreturned credit at once")
    func raise() {
        var window = InboundWindow(65_535)
        let check9 = window.take(1000)
        #expect(check9)
        let check10 = window.raise(to: 1 << 20, consumed: 1000) == (1 << 20) - 65_535 + 1000
        #expect(check10)
        #expect(window.advertised == 1 << 20 && window.available == 1 << 20)
        let check11 = window.raise(to: 1000) == nil
        #expect(check11, "a window never shrinks")
    }

    @Test("the sending window: increments may not pass 2^31-1; SETTINGS changes may make it negative")
    func outbound() {
        var window = FlowControlWindow(65_535)
        let check12 = window.increase(by: FlowControlWindow.maximum - 65_535)
        #expect(check12)
        let check13 = !window.increase(by: 1)
        #expect(check13)
        var other = FlowControlWindow(100)
        other.consume(100)
        let check14 = other.adjust(by: -50) && other.value == -50
        #expect(check14)
    }

    @Test("§6.9, §6.9.1: a WINDOW_UPDATE of 0 or one that passes 2^31-1 is refused and leaves the window as it was")
    func windowUpdates() {
        var window = FlowControlWindow(65_535)
        #expect(window.receiveUpdate(0) == .zero)
        #expect(window.receiveUpdate(1000) == nil && window.value == 66_535)
        #expect(window.receiveUpdate(FlowControlWindow.maximum - 66_534) == .overflow && window.value == 66_535)
        #expect(window.receiveUpdate(FlowControlWindow.maximum - 66_535) == nil && window.value == FlowControlWindow.maximum)
        let refusals = [FlowControlWindow.UpdateRefusal.zero.rejection(streamID: 0), FlowControlWindow.UpdateRefusal.overflow.rejection(streamID: 3)]
        #expect(refusals.map { "\($0.token): \($0.reason)" } == ["window_update_zero: connection WINDOW_UPDATE of 0",
                                                                   "window_overflow: stream 3 window exceeds 2^31-1"])
    }
}

/// The abuse checks as one value on a clock the test moves.
@Suite("Abuse guard (RFC 9113 §10.5)")
struct AbuseGuardTests {
    func limitsWith(_ configure: (inout Limits) -> Void) -> Limits {
        var limits = Limits()
        configure(&limits)
        return limits
    }

    @Test("a connection's guard keeps levels and counts, 88 bytes; its limits are the configuration's")
    func size() {
        #expect(MemoryLayout<AbuseGuard>.size == 88)
    }

    @Test("resets: a burst, then a refill rate")
    func resets() {
        let limits = limitsWith { $0.resetBurst = 10; $0.resetsPerSecond = 2 }
        var abuse = AbuseGuard(limits: limits, now: 0)
        for _ in 0..<10 { #expect(abuse.reset(now: 0, limits: limits) == nil) }
        let check15 = abuse.reset(now: 0, limits: limits)?.token == "rapid_reset"
        #expect(check15)
        let check16 = abuse.reset(now: 499_999_999, limits: limits)?.token == "rapid_reset"
        #expect(check16)
        let check17 = abuse.reset(now: 500_000_000, limits: limits) == nil
        #expect(check17, "one token after half a second at 2 per second")
    }

    @Test("empty DATA frames in a row, and small frames, are bounded; END_STREAM frames are not")
    func dataFrames() {
        let limits = limitsWith { $0.maxConsecutiveEmptyData = 2; $0.smallFrameBurst = 10; $0.smallFrameSize = 100 }
        var abuse = AbuseGuard(limits: limits, now: 0)
        let check18 = abuse.data(payloadLength: 0, frameLength: 0, endStream: false, now: 0, limits: limits) == nil
        #expect(check18)
        let check19 = abuse.data(payloadLength: 0, frameLength: 0, endStream: false, now: 0, limits: limits) == nil
        #expect(check19)
        let check20 = abuse.data(payloadLength: 0, frameLength: 0, endStream: false, now: 0, limits: limits)?.token == "empty_data_flood"
        #expect(check20)
        let smallLimits = limitsWith { $0.smallFrameBurst = 10; $0.smallFrameSize = 100; $0.smallFramesPerSecond = 1 }
        var small = AbuseGuard(limits: smallLimits, now: 0)
        for _ in 0..<10 { #expect(small.data(payloadLength: 10, frameLength: 10, endStream: false, now: 0, limits: smallLimits) == nil) }
        let check21 = small.data(payloadLength: 10, frameLength: 10, endStream: true, now: 0, limits: smallLimits) == nil
        #expect(check21)
        let check22 = small.data(payloadLength: 500, frameLength: 500, endStream: false, now: 0, limits: smallLimits) == nil
        #expect(check22)
        let check23 = small.data(payloadLength: 10, frameLength: 10, endStream: false, now: 0, limits: smallLimits)?.token == "small_frame_flood"
        #expect(check23)
    }

    @Test("queued ACKs are bounded until the output drains")
    func acks() {
        let limits = limitsWith { $0.maxQueuedControlFrames = 3 }
        var abuse = AbuseGuard(limits: limits, now: 0)
        for _ in 0..<3 { #expect(abuse.queueAck(of: .ping, limits: limits) == nil) }
        let check24 = abuse.queueAck(of: .ping, limits: limits)?.token == "ping_flood"
        #expect(check24)
        abuse.beginRead(outputDrained: true)
        let check25 = abuse.queueAck(of: .settings, limits: limits) == nil
        #expect(check25)
        abuse.beginRead(outputDrained: false)
        for _ in 0..<2 { #expect(abuse.queueAck(of: .settings, limits: limits) == nil) }
        let check26 = abuse.queueAck(of: .settings, limits: limits)?.token == "settings_flood"
        #expect(check26)
    }

    @Test("new streams per read and parameters per SETTINGS")
    func streamsAndSettings() {
        let limits = limitsWith { $0.maxConcurrentStreams = 2; $0.newStreamsPerTurnFactor = 2; $0.maxSettingsPerFrame = 4 }
        var abuse = AbuseGuard(limits: limits, now: 0)
        for _ in 0..<4 { #expect(abuse.newStream(limits: limits) == nil) }
        let check27 = abuse.newStream(limits: limits)?.token == "stream_flood"
        #expect(check27)
        abuse.beginRead(outputDrained: false)
        let check28 = abuse.newStream(limits: limits) == nil
        #expect(check28)
        #expect(abuse.settings(count: 4, limits: limits) == nil)
        #expect(abuse.settings(count: 5, limits: limits)?.token == "settings_flood")
    }

    @Test("window dribble: allowed, then a graceful shutdown from half the budget, then rejected")
    func dribble() {
        let limits = limitsWith { $0.dribbleBurst = 10; $0.dribblesPerSecond = 1 }
        var abuse = AbuseGuard(limits: limits, now: 0)
        var verdicts: [AbuseGuard.DribbleVerdict] = []
        for _ in 0..<11 { verdicts.append(abuse.dribble(now: 0, limits: limits)) }
        #expect(verdicts.prefix(5).allSatisfy { $0 == .allow })
        #expect(verdicts[5..<10].allSatisfy { $0 == .allowAndShutDown })
        #expect(verdicts[10] == .reject(Rejection(.windowDribble, "flow-control windows kept too small: too many tiny DATA frames")))
    }
}
