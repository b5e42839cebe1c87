import SwiftletHTTP

/// How a stream leaves its connection, and its place in the connection's
/// write order (RFC 9218). The connection's part of a stream's end (the
/// stream table, the recently closed ids, the idle timer) is the engine's
/// `finishStream`; the stream's part (its state, its buffers, its handler)
/// is here.
extension HTTP2Stream {
    // MARK: ending

    /// Sends RST_STREAM (unless the stream's state already rules it out),
    /// tells the handler why, and leaves the connection (§5.4.2).
    func sendReset(code: ErrorCode, notify reason: HTTPExchangeCloseReason) {
        guard isLive else { return }
        withEngine { engine in
            if apply(.sendReset) == .ok {
                engine.transport.writeRstStream(streamID: id, code: code)
            }
            engine.finishStream(self, closedBy: .localReset, reason: reason)
        }
    }

    /// The engine removed the stream from its table: closes it, drops its
    /// queued bytes and tells the handler. Returns how many buffered
    /// request bytes nobody will read (their credit goes back to the
    /// connection).
    func retire(reason: HTTPExchangeCloseReason) -> Int {
        if !state.isClosed { enter(.connectionClosed) }
        var unread = 0
        if !bufferedBody.isEmpty {
            unread = bufferedBody.pendingBytes
            bufferedBody.discardAll()
        }
        body.discardAll()
        notifyClosed(reason: reason)
        id = 0
        if contextStorage != nil { contextStorage = nil }  // storing nil over nil is still a release call
        return unread
    }

    /// Tells the handler, once, that it is done with this exchange.
    func notifyClosed(reason: HTTPExchangeCloseReason) {
        guard handlerStarted && !closeNotified else { return }
        closeNotified = true
        withEngine { $0.handler.exchangeDidClose(self, reason: reason) }
    }

    // MARK: priority

    /// Applies a priority signal unless a stronger source already set one
    /// (RFC 7540 hint < priority header < PRIORITY_UPDATE < handler).
    func prioritize(_ priority: HTTPPriority, source: PrioritySource) {
        guard isLive, source >= prioritySource else { return }
        prioritySource = source
        guard schedulingPriority != priority else { return }
        schedulingPriority = priority
        withEngine { $0.scheduler.reprioritize(self) }
    }

    /// A new stream's priority: RFC 7540 weight as a hint (clients without
    /// RFC 9218 signals), then the priority header, then a PRIORITY_UPDATE
    /// that arrived before the stream opened.
    func applyOpeningPriority(weight: Int?) {
        let priorityField = requestFieldsReference._withUnsafeGuaranteedRef { $0.first("priority") }
        let signals = withEngine { engine in
            engine.priorities.opening(id, weight: weight, header: priorityField, peerDisabledRFC7540: engine.peer.noRFC7540Priorities)
        }
        if let hint = signals.hint { prioritize(hint, source: .rfc7540) }
        if let header = signals.header { prioritize(header, source: .header) }
        if let update = signals.update { prioritize(update, source: .frame) }
    }
}
