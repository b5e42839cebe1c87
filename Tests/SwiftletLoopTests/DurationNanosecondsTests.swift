import SwiftletLoop
import Testing

/// `Duration.nanoseconds`, which every timer a connection sets goes
/// through: whole nanoseconds toward zero, clamped to 0...UInt64.max.
@Suite("Duration.nanoseconds")
struct DurationNanosecondsTests {
    @Test("whole nanoseconds, the fraction dropped")
    func exact() {
        #expect(Duration.zero.nanoseconds == 0)
        #expect(Duration.nanoseconds(1).nanoseconds == 1)
        #expect(Duration.milliseconds(1500).nanoseconds == 1_500_000_000)
        #expect(Duration.seconds(60).nanoseconds == 60_000_000_000)
        #expect(Duration(secondsComponent: 5, attosecondsComponent: 999_999_999_999_999_999).nanoseconds == 5_999_999_999)
        #expect(Duration(secondsComponent: 0, attosecondsComponent: 999_999_999).nanoseconds == 0)
        // More than 2^64 attoseconds: the high word is used.
        #expect(Duration.seconds(18_446_744_073).nanoseconds == 18_446_744_073_000_000_000)
    }

    @Test("negative durations are 0, including a fraction of a second; too long ones UInt64.max")
    func clamped() {
        #expect(Duration.seconds(-3).nanoseconds == 0)
        #expect(Duration.nanoseconds(-1).nanoseconds == 0)
        #expect(Duration(secondsComponent: -1, attosecondsComponent: 999_999_999_999_999_999).nanoseconds == 0)
        #expect(Duration.seconds(18_446_744_074).nanoseconds == .max)
        #expect(Duration.seconds(Int64.max).nanoseconds == .max)
    }
}
