/// How far a stream's request has come, as its handler sees it. Changed
/// only through the transition functions, which say whether the change was
/// allowed. (Pausing is a separate switch of the handler's, orthogonal to
/// these steps: `HTTP2Stream.bodyPaused`.)
///
///     receiving ──END_STREAM (DATA or trailers)──▶ complete ──handler told──▶ finishDelivered
///         │
///         └──our response complete first──▶ draining(until:allowance:) ──the stream closes──▶ (recycled)
///
/// While draining, the handler is done with the exchange; what the peer
/// still sends is checked and discarded until it ends the request, the
/// deadline passes or the stream window runs out (§8.1). The first
/// `allowance` bytes discarded earn the stream window credit again, so a
/// modest upload finishes instead of being reset.
enum RequestProgress: Equatable {
    case receiving
    case complete
    case finishDelivered
    case draining(until: UInt64, allowance: Int)

    /// END_STREAM arrived (on DATA, HEADERS or trailers). A draining request
    /// stays draining: the stream closes, nobody is told.
    mutating func ended() {
        if self == .receiving { self = .complete }
    }

    /// The handler is to be told the request is complete: true once.
    mutating func deliverFinish() -> Bool {
        guard self == .complete else { return false }
        self = .finishDelivered
        return true
    }

    /// Our response completed before the request: drain until `deadline`,
    /// giving the stream credit again for up to `allowance` bytes.
    mutating func beginDraining(until deadline: UInt64, allowance: Int) -> Bool {
        guard self == .receiving else { return false }
        self = .draining(until: deadline, allowance: max(allowance, 0))
        return true
    }

    /// `count` request bytes were discarded while draining: true if they
    /// fit the allowance (the stream gets their credit back), false once
    /// it is spent (the window is left to run out).
    mutating func drained(_ count: Int) -> Bool {
        guard case .draining(let deadline, let allowance) = self, count <= allowance else { return false }
        self = .draining(until: deadline, allowance: allowance - count)
        return true
    }

    /// END_STREAM arrived (the handler may not have been told yet).
    var isComplete: Bool { self == .complete || self == .finishDelivered }

    var drainDeadline: UInt64? {
        if case .draining(let deadline, _) = self { return deadline }
        return nil
    }
}

/// How far a stream's response has come. Changed only through the
/// transition functions, which say whether the change was allowed.
///
///     noHead ──sendHead──▶ head ──last body / finish──▶ endQueued ──END_STREAM written──▶ endSent
///        └──sendHead(endOfStream)──────────────────────────────────────────────────────▲
///
/// (1xx heads leave it at `noHead`: the final head follows.)
enum ResponseProgress: Equatable {
    case noHead
    case head
    case endQueued
    case endSent

    /// The final head went out; `endStream`: without a body.
    mutating func headSent(endStream: Bool) -> Bool {
        guard self == .noHead else { return false }
        self = endStream ? .endSent : .head
        return true
    }

    /// The handler queued the end (last body bytes, trailers, or `finish`).
    mutating func endQueued() -> Bool {
        guard self == .head else { return false }
        self = .endQueued
        return true
    }

    /// The frame carrying END_STREAM was written.
    mutating func endSent() -> Bool {
        guard self == .endQueued else { return false }
        self = .endSent
        return true
    }

    var isHeadSent: Bool { self != .noHead }
    /// The end is queued or out: no more body may be queued.
    var isEndRequested: Bool { self == .endQueued || self == .endSent }
}
