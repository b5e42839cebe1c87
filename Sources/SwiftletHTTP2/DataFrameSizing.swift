/// How long a stream's next DATA frame is, decided without the connection:
/// no longer than the body queued, either flow-control window (RFC 9113
/// §6.9: "the sender MUST NOT send a flow-controlled frame with a length
/// that exceeds the space available in either of the flow-control windows
/// advertised by the receiver"), the largest frame we write (within the
/// peer's SETTINGS_MAX_FRAME_SIZE, §4.2) and what is left of the
/// connection's output budget for this turn.
struct DataFrameSizing: Equatable {
    /// The stream's queued body bytes.
    var pending: Int
    var streamWindow: Int
    var connectionWindow: Int
    /// min(our largest DATA frame, the peer's SETTINGS_MAX_FRAME_SIZE).
    var frameLimit: Int
    /// Bytes of output this connection may still generate this turn.
    var budget: Int
    /// More body will follow what is queued (a body source still producing).
    var moreToCome: Bool
    /// The handler queued the end of the body.
    var endQueued: Bool
    /// The end comes with trailers (a HEADERS frame ends the stream then).
    var hasTrailers: Bool

    enum Next: Equatable {
        /// A window is closed: wait for WINDOW_UPDATE.
        case blocked
        /// A frame of `length` bytes; `endStream` if it carries END_STREAM;
        /// `cutByWindow` if a window made it shorter than the body at hand
        /// (the window-dribble check applies, `WindowDribble`).
        case frame(length: Int, endStream: Bool, cutByWindow: Bool)
    }

    var next: Next {
        let window = min(streamWindow, connectionWindow)
        guard window > 0 else { return .blocked }
        let length = min(pending, window, frameLimit, budget)
        // Cut by the flow-control window, with more body to come (queued, or
        // a source that produces only what fits).
        let cutByWindow = length == window && (length < pending || moreToCome)
        let endStream = length == pending && endQueued && !hasTrailers
        return .frame(length: length, endStream: endStream, cutByWindow: cutByWindow)
    }
}

/// One stream's defence against window dribble (`Limits.minDataFrameSize`,
/// `Limits.dribbleDelay`): a peer that keeps a window a few bytes wide
/// would have us write a whole frame per few bytes. The stream's first
/// DATA frame a window cuts that small goes out at once (a peer may start
/// small); each later one is held back once for the delay (a larger window
/// may come meanwhile), then sent and counted against the connection's
/// dribble budget (`AbuseGuard.dribble`).
///
///     fresh ──tiny frame──▶ warned ──tiny frame──▶ held(until) ──deadline passed, tiny frame──▶ count, send
///                              ▲                        │
///                              └──any frame sent────────┘
struct WindowDribble: Equatable {
    private var sentTinyFrame = false
    /// The time (transport clock) the held frame may go; 0 when none is held.
    private(set) var heldUntil: UInt64 = 0

    enum Verdict: Equatable {
        /// Send it.
        case send
        /// Hold the frame (pull nothing) until the deadline.
        case hold(until: UInt64)
        /// Send it and count it against the dribble budget.
        case sendAndCount
    }

    /// Whether the stream is waiting out a hold at `now`.
    func isHeld(now: UInt64) -> Bool { heldUntil > now }

    /// A frame the window cut below the minimum is about to be written.
    mutating func tinyFrame(now: UInt64, delay: UInt64) -> Verdict {
        if !sentTinyFrame {
            sentTinyFrame = true
            return .send
        }
        if heldUntil == 0 {
            heldUntil = now &+ delay
            return .hold(until: heldUntil)
        }
        return .sendAndCount
    }

    /// A DATA frame was written: the next tiny one is held again.
    mutating func frameSent() { heldUntil = 0 }
}
