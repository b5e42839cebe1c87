import CSwiftletSystem
import Glibc
import Synchronization

/// A source of monotonic time in nanoseconds.
///
/// The loop reads its clock once per turn; timers and every rate limit built
/// on the loop use that reading. Tests inject a `ManualClock` and move time
/// forward by hand, so a 60-second timeout test takes microseconds.
public protocol LoopClock: Sendable {
    /// Nanoseconds since an arbitrary fixed point; never decreases.
    func now() -> UInt64
}

/// `CLOCK_MONOTONIC`.
public struct MonotonicClock: LoopClock {
    public init() {}

    public func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

/// A clock that moves only when told to.
public final class ManualClock: LoopClock {
    private let nanoseconds: Atomic<UInt64>

    public init(start: UInt64 = 1_000_000_000) {
        nanoseconds = Atomic(start)
    }

    public func now() -> UInt64 { nanoseconds.load(ordering: .acquiring) }

    public func advance(by delta: Duration) {
        nanoseconds.add(delta.nanoseconds, ordering: .releasing)
    }

    public func advance(nanoseconds delta: UInt64) {
        nanoseconds.add(delta, ordering: .releasing)
    }
}

extension Duration {
    /// The duration in whole nanoseconds (rounded toward zero), clamped to
    /// 0...UInt64.max.
    ///
    /// One 128-by-64-bit division of the attoseconds: `components` divides
    /// a 128-bit count by 10^18 in software (about 190 instructions, and
    /// every timer a connection sets converts a `Duration`).
    public var nanoseconds: UInt64 {
        let attoseconds = self.attoseconds
        if attoseconds <= 0 { return 0 }
        let high = UInt64(truncatingIfNeeded: attoseconds >> 64)
        let low = UInt64(truncatingIfNeeded: attoseconds)
        // A quotient of 2^64 or more does not fit: clamp.
        guard high < 1_000_000_000 else { return .max }
        return UInt64(1_000_000_000).dividingFullWidth((high: high, low: low)).quotient
    }
}
