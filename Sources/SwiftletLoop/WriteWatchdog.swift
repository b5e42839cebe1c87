/// Whether a connection's pending output is moving: a peer that stops
/// reading must not hold a connection (and its buffered response) forever.
/// While output is pending, the owner checks four times per timeout; a
/// whole timeout without a byte written means the peer is gone.
///
/// A value with the owner's clock readings passed in, shared by HTTP/1.1
/// and HTTP/2; the owner keeps the timer (`nextCheck` says when).
public struct WriteWatchdog: Sendable {
    public let timeout: UInt64
    private var bytesSentAtCheck: UInt64 = 0
    private var lastProgress: UInt64 = 0
    /// A check is scheduled.
    public private(set) var isArmed = false

    public init(timeout: Duration) {
        self.timeout = timeout.nanoseconds
    }

    /// Output was queued: returns when to check, if no check is scheduled yet.
    public mutating func arm(pendingBytes: Int, bytesSent: UInt64, now: UInt64) -> UInt64? {
        guard !isArmed, pendingBytes > 0 else { return nil }
        isArmed = true
        bytesSentAtCheck = bytesSent
        lastProgress = now
        return now &+ timeout / 4
    }

    public enum Verdict: Equatable, Sendable {
        /// Nothing is pending any more: no further checks.
        case drained
        /// Still moving (or not yet a whole timeout stuck): check again then.
        case checkAgain(at: UInt64)
        /// No byte written for a whole timeout.
        case stalled
    }

    /// The scheduled check came due.
    public mutating func check(pendingBytes: Int, bytesSent: UInt64, now: UInt64) -> Verdict {
        isArmed = false
        guard pendingBytes > 0 else { return .drained }
        if bytesSent != bytesSentAtCheck {
            bytesSentAtCheck = bytesSent
            lastProgress = now
        }
        guard now &- lastProgress < timeout else { return .stalled }
        isArmed = true
        return .checkAgain(at: now &+ timeout / 4)
    }

    /// The owner cancelled its timer (the connection closed).
    public mutating func disarm() { isArmed = false }
}
