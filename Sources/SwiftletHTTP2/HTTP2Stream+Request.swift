import SwiftletHTTP

/// A stream's request half once its frames passed the engine's checks: the
/// body into the handler (in place, or buffered while the handler pauses),
/// the flow-control credit the handler's reading earns (§6.9), and the
/// drain of a request whose response finished first (§8.1). As h2o keeps
/// `stream.c` beside `connection.c`: what concerns one stream lives with
/// the stream; what concerns the connection (its window, its timers, the
/// stream table) the engine does when asked.
extension HTTP2Stream {
    // MARK: body into the handler

    /// DATA passed every check: hands the bytes to the handler in place, or
    /// buffers them while it is paused (or while older buffered bytes wait).
    func receiveBody(_ data: UnsafeRawBufferPointer) {
        if isDrainingRequest {
            drained(data.count)  // nobody reads it
            return
        }
        if !handlerStarted || bodyPaused || !bufferedBody.isEmpty {
            bufferedBody.append(copying: data)
            return
        }
        withEngine { $0.handler.exchange(self, didReceiveBody: data) }
        if isLive { consumed(data.count) }
    }

    /// Delivers buffered body after `resumeRequestBody` (or once the handler started).
    func deliverBufferedBody() {
        withEngine { engine in
            while isLive && !bodyPaused, let chunk = bufferedBody.firstRegion {
                engine.handler.exchange(self, didReceiveBody: chunk)
                guard isLive else { return }
                bufferedBody.advance(by: chunk.count)
                consumed(chunk.count)
            }
            deliverRequestEndIfDue()
            engine.transport.requestWillFlush()
        }
    }

    /// Tells the handler the request is complete, once, when every byte
    /// before the end was delivered.
    func deliverRequestEndIfDue() {
        if isDrainingRequest {
            completeIfBothEnded()
            return
        }
        guard isLive, handlerStarted, !bodyPaused, bufferedBody.isEmpty, requestProgress.deliverFinish() else { return }
        withEngine { $0.handler.exchange(self, didFinishRequestWith: trailers) }
        completeIfBothEnded()
    }

    /// The handler has seen `count` bytes: credit both windows
    /// (`InboundWindow` batches the WINDOW_UPDATEs). The first bytes a
    /// handler reads raise the stream window from SETTINGS_INITIAL_WINDOW_SIZE
    /// to `Limits.streamWindowSize`.
    func consumed(_ count: Int) {
        withEngine { engine in
            engine.creditConnection(count)
            guard state.canReceive, !isDrainingRequest else { return }
            let target = engine.limits.streamWindowSize
            let increment = inbound.advertised < target ? inbound.raise(to: target, consumed: count) : inbound.consumed(count)
            if let increment { engine.transport.writeWindowUpdate(streamID: id, increment: increment) }
        }
    }

    /// Both sides ended the stream: it is done.
    func completeIfBothEnded() {
        if isLive && state == .closed(.endStream) {
            withEngine { $0.finishStream(self, closedBy: .endStream, reason: .completed) }
        }
    }

    // MARK: draining a request after its response (§8.1)

    /// The response is complete but the request is not (§8.1: "A server can
    /// send a complete response prior to the client sending an entire
    /// request if the response does not depend on any portion of the request
    /// that has not been sent and received"). The handler is done with the
    /// exchange, but the stream stays half-closed (local): what the peer
    /// sends on it is still held to the request's rules (content-length,
    /// trailers, flow control, frame order) and discarded, until the peer
    /// ends the request or the drain is over. The drain is bounded in bytes
    /// (the stream window gets credit for `Limits.requestDrainAllowance`
    /// bytes, then no more) and in time (`Limits.requestDrainTimeout`); at
    /// either bound the stream is reset with NO_ERROR: "the server MAY
    /// request that the client abort transmission of a request without
    /// error by sending a RST_STREAM with an error code of NO_ERROR after
    /// sending a complete response".
    func beginRequestDrain() {
        withEngine { engine in
            engine.notifyClosed(self, reason: .completed)
            let limits = engine.limits
            guard limits.requestDrainTimeout > .zero else {
                endRequestDrain()
                return
            }
            let deadline = engine.clockNow &+ limits.requestDrainTimeout.nanoseconds
            guard requestProgress.beginDraining(until: deadline, allowance: limits.requestDrainAllowance) else { return }
            if !bufferedBody.isEmpty {
                let count = bufferedBody.pendingBytes
                bufferedBody.discardAll()
                drained(count)
            }
            guard isLive else { return }
            guard inbound.available > 0 else {
                endRequestDrain()
                return
            }
            engine.requestDrainStarted(until: deadline)
        }
    }

    /// `count` bytes of a draining request were discarded: the connection
    /// gets their credit; the stream too while the drain's allowance lasts
    /// (`Limits.requestDrainAllowance`). A peer that has used up a window
    /// that gets no more credit cannot finish: reset it now.
    func drained(_ count: Int) {
        withEngine { $0.creditConnection(count) }
        guard state.canReceive else { return }
        if requestProgress.drained(count), let increment = inbound.consumed(count) {
            withEngine { $0.transport.writeWindowUpdate(streamID: id, increment: increment) }
        }
        if inbound.available == 0 { endRequestDrain() }
    }

    /// The drain is over before the peer ended the request:
    /// RST_STREAM(NO_ERROR) (§8.1).
    func endRequestDrain() {
        withEngine { engine in
            engine.counters.requestDrainResetCount += 1
            engine.resetStream(self, code: .noError, notify: .completed)
        }
    }
}
