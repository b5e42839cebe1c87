import Testing
@testable import SwiftletLoop

@Suite("TimerWheel")
struct TimerWheelTests {
    let ms: UInt64 = 1_000_000
    let start: UInt64 = 1_000_000_000

    final class Recorder: TimerTarget {
        var fired: [UInt64] = []
        func timerFired(_ id: TimerID, tag: UInt64) { fired.append(tag) }
    }

    @Test("a wheel whose clock starts below one tick fires on time (no wrap to slot 0)")
    func clockAtZero() {
        let wheel = TimerWheel(now: 0, slotCount: 64)
        let recorder = Recorder()
        wheel.schedule(at: 30 * ms, target: recorder, tag: 30)
        wheel.advance(to: 20 * ms)
        #expect(recorder.fired.isEmpty)
        #expect(wheel.nextDeadline() == 30 * ms)
        wheel.advance(to: 30 * ms)
        #expect(recorder.fired == [30])
        let empty = TimerWheel(now: 0, slotCount: 64)
        empty.advance(to: 500_000)  // still tick 0
        empty.schedule(at: 5 * ms, target: recorder, tag: 5)
        empty.advance(to: 5 * ms)
        #expect(recorder.fired == [30, 5])
    }

    @Test("timers fire in deadline order, ties in scheduling order, never early")
    func ordering() {
        let wheel = TimerWheel(now: start)
        let recorder = Recorder()
        wheel.schedule(at: start + 30 * ms, target: recorder, tag: 3)
        wheel.schedule(at: start + 10 * ms, target: recorder, tag: 1)
        wheel.schedule(at: start + 20 * ms, target: recorder, tag: 2)
        wheel.schedule(at: start + 20 * ms, target: recorder, tag: 22)
        wheel.schedule(at: start + 10 * ms + 500_000, target: recorder, tag: 15)
        wheel.advance(to: start + 10 * ms + 499_999)
        #expect(recorder.fired == [1])
        wheel.advance(to: start + 25 * ms)
        #expect(recorder.fired == [1, 15, 2, 22])
        wheel.advance(to: start + 100 * ms)
        #expect(recorder.fired == [1, 15, 2, 22, 3])
        #expect(wheel.count == 0)
    }

    @Test("a jump over many ticks still fires in deadline order")
    func bigJump() {
        let wheel = TimerWheel(now: start, slotCount: 64)
        let recorder = Recorder()
        // Deadlines spread over several revolutions of a 64-slot wheel.
        for tag in [500, 3, 130, 64, 65, 1, 200] as [UInt64] {
            wheel.schedule(at: start + tag * ms, target: recorder, tag: tag)
        }
        wheel.advance(to: start + 300 * ms)
        #expect(recorder.fired == [1, 3, 64, 65, 130, 200])
        wheel.advance(to: start + 500 * ms)
        #expect(recorder.fired.last == 500)
    }

    @Test("timers more than a revolution away wait for their own tick")
    func multipleRevolutions() {
        let wheel = TimerWheel(now: start, slotCount: 64)
        let recorder = Recorder()
        wheel.schedule(at: start + 1000 * ms, target: recorder, tag: 1)
        var now = start
        while now < start + 999 * ms {
            now += 7 * ms
            wheel.advance(to: min(now, start + 999 * ms))
        }
        #expect(recorder.fired.isEmpty)
        wheel.advance(to: start + 1000 * ms)
        #expect(recorder.fired == [1])
    }

    @Test("cancel: before firing, twice, after firing, and from a callback")
    func cancel() {
        let wheel = TimerWheel(now: start)
        let recorder = Recorder()
        let a = wheel.schedule(at: start + 5 * ms, target: recorder, tag: 1)
        let b = wheel.schedule(at: start + 5 * ms, target: recorder, tag: 2)
        #expect(wheel.cancel(a))
        #expect(!wheel.cancel(a), "a second cancel is a no-op")
        var c: TimerID?
        wheel.schedule(at: start + 6 * ms) { _ = wheel.cancel(c!) }
        c = wheel.schedule(at: start + 6 * ms, target: recorder, tag: 3)
        wheel.advance(to: start + 10 * ms)
        #expect(recorder.fired == [2], "the cancelled timers did not fire, even the one cancelled mid-pass")
        #expect(!wheel.cancel(b), "cancelling a fired timer is a no-op")
        #expect(wheel.count == 0)
    }

    @Test("a callback may schedule a timer that is already due; it fires on the next advance")
    func rescheduleFromCallback() {
        let wheel = TimerWheel(now: start)
        var log: [String] = []
        wheel.schedule(at: start + ms) {
            log.append("first")
            wheel.schedule(at: start) { log.append("second") }
        }
        wheel.advance(to: start + 2 * ms)
        #expect(log == ["first"])
        wheel.advance(to: start + 2 * ms)
        #expect(log == ["first", "second"])
    }

    @Test("nextDeadline is never later than the earliest timer")
    func nextDeadline() {
        let wheel = TimerWheel(now: start, slotCount: 64)
        #expect(wheel.nextDeadline() == nil)
        let recorder = Recorder()
        wheel.schedule(at: start + 40 * ms + 123, target: recorder, tag: 0)
        #expect(wheel.nextDeadline() == start + 40 * ms + 123)
        let early = wheel.schedule(at: start + 3 * ms, target: recorder, tag: 0)
        #expect(wheel.nextDeadline() == start + 3 * ms)
        wheel.cancel(early)
        #expect(wheel.nextDeadline() == start + 40 * ms + 123)
        // Far beyond one revolution: the answer is a wake-up no later than it.
        let far = TimerWheel(now: start, slotCount: 64)
        far.schedule(at: start + 10_000 * ms, target: recorder, tag: 0)
        let next = far.nextDeadline()!
        #expect(next <= start + 10_000 * ms && next > start)
    }
}
