import SwiftletLoop
import Testing

/// The write watchdog on a clock the test moves: a peer that reads nothing
/// for a whole timeout is stalled; any progress restarts the timeout.
@Suite("WriteWatchdog")
struct WriteWatchdogTests {
    let second: UInt64 = 1_000_000_000

    @Test("nothing pending: nothing to watch")
    func idle() {
        var watchdog = WriteWatchdog(timeout: .seconds(60))
        #expect(watchdog.arm(pendingBytes: 0, bytesSent: 0, now: 0) == nil)
        #expect(!watchdog.isArmed)
    }

    @Test("checks every quarter timeout; a whole timeout without progress is a stall")
    func stall() {
        var watchdog = WriteWatchdog(timeout: .seconds(60))
        let first = watchdog.arm(pendingBytes: 100, bytesSent: 0, now: 0)
        #expect(first == 15 * second)
        #expect(watchdog.arm(pendingBytes: 100, bytesSent: 0, now: 1) == nil, "already armed")
        #expect(watchdog.check(pendingBytes: 100, bytesSent: 0, now: 15 * second) == .checkAgain(at: 30 * second))
        #expect(watchdog.check(pendingBytes: 100, bytesSent: 0, now: 30 * second) == .checkAgain(at: 45 * second))
        #expect(watchdog.check(pendingBytes: 100, bytesSent: 0, now: 45 * second) == .checkAgain(at: 60 * second))
        #expect(watchdog.check(pendingBytes: 100, bytesSent: 0, now: 60 * second) == .stalled)
        #expect(!watchdog.isArmed)
    }

    @Test("progress restarts the timeout; drained output ends the watch")
    func progress() {
        var watchdog = WriteWatchdog(timeout: .seconds(60))
        _ = watchdog.arm(pendingBytes: 100, bytesSent: 0, now: 0)
        #expect(watchdog.check(pendingBytes: 100, bytesSent: 0, now: 45 * second) == .checkAgain(at: 60 * second))
        #expect(watchdog.check(pendingBytes: 50, bytesSent: 50, now: 59 * second) == .checkAgain(at: 74 * second))
        #expect(watchdog.check(pendingBytes: 50, bytesSent: 50, now: 118 * second) == .checkAgain(at: 133 * second))
        #expect(watchdog.check(pendingBytes: 50, bytesSent: 50, now: 119 * second) == .stalled)
        _ = watchdog.arm(pendingBytes: 10, bytesSent: 50, now: 200 * second)
        #expect(watchdog.check(pendingBytes: 0, bytesSent: 60, now: 215 * second) == .drained)
        #expect(!watchdog.isArmed)
    }
}
