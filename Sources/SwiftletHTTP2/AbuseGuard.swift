/// The connection's abuse accounting in one value (RFC 9113 §10.5: "An
/// endpoint MAY treat activity that is suspicious as a connection error of
/// type ENHANCE_YOUR_CALM"). Each check returns the rejection that ends the
/// connection, or nil; times come from the caller's clock (the loop's, or a
/// test's), so every limit is testable without sleeping. The limits and
/// the attacks they bound are documented on `Limits`.
///
/// The guard keeps only what changes per connection (the buckets' levels
/// and three counters, 88 bytes); every check reads its limit from the
/// `Limits` the caller passes, the configuration's, shared by all
/// connections. The engine runs the checks whose reasons format numbers on
/// a copy (`HTTP2Engine.checkAbuse`), so the value is kept small.
struct AbuseGuard {
    private var resets: TokenBucket
    private var glitches: TokenBucket
    private var smallFrames: TokenBucket
    private var dribbles: TokenBucket
    /// PING and SETTINGS ACKs queued since the output last drained.
    private(set) var queuedAcks = 0
    private var consecutiveEmptyData = 0
    private var newStreamsThisRead = 0

    /// Full buckets at `now`, sized by `limits`.
    init(limits: Limits, now: UInt64) {
        resets = TokenBucket(capacity: limits.resetBurst, now: now)
        glitches = TokenBucket(capacity: limits.glitchBurst, now: now)
        smallFrames = TokenBucket(capacity: limits.smallFrameBurst, now: now)
        dribbles = TokenBucket(capacity: limits.dribbleBurst, now: now)
    }

    /// A read begins; `outputDrained`: nothing of ours waits to be written,
    /// so no ACK is queued any more.
    mutating func beginRead(outputDrained: Bool) {
        newStreamsThisRead = 0
        if outputDrained { queuedAcks = 0 }
    }

    /// A stream reset: the peer's RST_STREAM, or one we send because of the
    /// peer (rapid reset CVE-2023-44487, MadeYouReset CVE-2025-8671).
    mutating func reset(now: UInt64, limits: Limits) -> Rejection? {
        resets.take(now: now, capacity: limits.resetBurst, perSecond: limits.resetsPerSecond) ? nil : Rejection(.rapidReset, "too many stream resets")
    }

    /// A legal but suspicious frame (PRIORITY, PRIORITY_UPDATE, unknown
    /// types, frames on closed streams, stream errors).
    mutating func glitch(now: UInt64, limits: Limits) -> Rejection? {
        glitches.take(now: now, capacity: limits.glitchBurst, perSecond: limits.glitchesPerSecond) ? nil : Rejection(.tooManyGlitches, "too many suspicious frames")
    }

    /// A DATA frame: empty frames without END_STREAM in a row (CVE-2019-9518)
    /// and small frames (dribble) are bounded.
    mutating func data(payloadLength: Int, frameLength: Int, endStream: Bool, now: UInt64, limits: Limits) -> Rejection? {
        if payloadLength == 0 && !endStream {
            consecutiveEmptyData += 1
            if consecutiveEmptyData > limits.maxConsecutiveEmptyData {
                return Rejection(.emptyDataFlood, "consecutive empty DATA frames")
            }
        } else {
            consecutiveEmptyData = 0
        }
        return endStream ? nil : smallFrame(length: frameLength, now: now, limits: limits)
    }

    /// A HEADERS or CONTINUATION frame that does not complete its block, or
    /// a DATA frame that does not end its stream: small ones draw on a bucket.
    mutating func smallFrame(length: Int, now: UInt64, limits: Limits) -> Rejection? {
        guard length < limits.smallFrameSize,
              !smallFrames.take(now: now, capacity: limits.smallFrameBurst, perSecond: limits.smallFramesPerSecond) else { return nil }
        return Rejection(.smallFrameFlood, "too many small frames")
    }

    /// A PING or SETTINGS that we must acknowledge (ping and settings floods,
    /// CVE-2019-9512, CVE-2019-9515).
    mutating func queueAck(of type: FrameType, limits: Limits) -> Rejection? {
        queuedAcks += 1
        guard queuedAcks > limits.maxQueuedControlFrames else { return nil }
        return Rejection(type == .ping ? .pingFlood : .settingsFlood, "more than \(limits.maxQueuedControlFrames) unanswered \(type == .ping ? "PINGs" : "SETTINGS")")
    }

    /// A SETTINGS frame of `count` parameters.
    func settings(count: Int, limits: Limits) -> Rejection? {
        guard count > limits.maxSettingsPerFrame else { return nil }
        return Rejection(.settingsFlood, "more than \(limits.maxSettingsPerFrame) parameters in one SETTINGS")
    }

    /// A new stream in this read (rapid reset: streams opened and reset
    /// before any response).
    mutating func newStream(limits: Limits) -> Rejection? {
        newStreamsThisRead += 1
        guard newStreamsThisRead > limits.maxNewStreamsPerTurn else { return nil }
        return Rejection(.streamFlood, "more than \(limits.maxNewStreamsPerTurn) new streams in one read")
    }

    enum DribbleVerdict: Equatable {
        case allow
        /// Allowed, but half the budget is spent: shut down gracefully.
        case allowAndShutDown
        case reject(Rejection)
    }

    /// A DATA frame the peer's window cut below `minDataFrameSize` (window
    /// dribble; §10.5: "Large numbers of small or empty frames can be abused
    /// to cause a peer to expend time processing frame headers").
    mutating func dribble(now: UInt64, limits: Limits) -> DribbleVerdict {
        guard dribbles.take(now: now, capacity: limits.dribbleBurst, perSecond: limits.dribblesPerSecond) else {
            return .reject(Rejection(.windowDribble, "flow-control windows kept too small: too many tiny DATA frames"))
        }
        return dribbles.isBelowHalf(of: limits.dribbleBurst) ? .allowAndShutDown : .allow
    }
}
