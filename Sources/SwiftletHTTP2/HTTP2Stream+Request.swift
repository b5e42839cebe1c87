import SwiftletHTTP

/// A stream's request half once its frames passed the engine's checks: the
/// body into the handler (in place, or buffered while the handler pauses),
/// the flow-control credit the handler's reading earns (§6.9), and the
/// drain of a request whose response finished first (§8.1). As h2o keeps
/// `stream.c` beside `connection.c`: what concerns one stream lives with
/// the stream; what concerns the connection (its window, its timers, the
/// stream table) the engine does when asked.
extension HTTP2Stream {
    // MARK: frames on an open stream

    /// DATA on this stream, after the connection-level checks (§6.1).
    /// `length` is the flow-controlled length (payload and padding). Bytes
    /// that reach no handler are credited back to the connection at once.
    func receiveData(_ data: UnsafeRawBufferPointer, flowControlledLength length: Int, endStream: Bool) -> FrameResult {
        // §6.9.1: a frame that exceeds the stream window is a stream error of
        // type FLOW_CONTROL_ERROR. (Taken before the frame's other checks: a
        // frame that fails them resets the stream, whose window no longer
        // matters.)
        guard inbound.take(length) else {
            creditConnection(length)
            return .streamError(id, Rejection(.streamWindowExceeded,
                                              "DATA of \(length) bytes exceeds the stream window \(inbound.available)"))
        }
        // Frame order first (§5.1), then the request's own rules, both
        // judged in the state before this frame (a stream error must still
        // be able to reset the stream this frame would end).
        let event = StreamState.Event.receiveData(endStream: endStream)
        let admitted = state.admits(event)
        switch admitted {
        case .ok: break
        case .connectionError: return FrameResult(admitted, streamID: id)  // the connection's window no longer matters
        case .ignore, .streamError:
            creditConnection(length)
            return FrameResult(admitted, streamID: id)
        }
        let received = receivedBodyBytes + data.count
        // §8.1.1: "A request or response is also malformed if the value of a
        // content-length header field does not equal the sum of the DATA frame
        // payload lengths that form the content".
        if let expected = expectedContentLength, received > expected || (endStream && received != expected) {
            creditConnection(length)
            return .streamError(id, Rejection(.contentLengthMismatch, "content-length \(expected) but \(received) bytes of DATA"))
        }
        enter(event)
        // Padding is consumed at once.
        let padding = length - data.count
        if padding > 0 { consumed(padding) }
        receivedBodyBytes = received
        if data.count > 0 { receiveBody(data) }
        if endStream {
            requestProgress.ended()
            deliverRequestEndIfDue()
        }
        return .ok
    }

    /// A decoded trailer block on this stream (§8.1: trailers end the
    /// request); `violation`: the first rule of §8.2 it breaks.
    func receiveTrailers(endStream: Bool, violation: Rejection?) -> FrameResult {
        // As for DATA: frame order, then the trailers' own rules, in the
        // state before this frame.
        let event = StreamState.Event.receiveHeaders(endStream: endStream)
        let admitted = state.admits(event)
        guard case .ok = admitted else { return FrameResult(admitted, streamID: id) }
        if let violation { return .streamError(id, violation) }
        if let expected = expectedContentLength, receivedBodyBytes != expected {
            return .streamError(id, Rejection(.contentLengthMismatch, "content-length \(expected) but \(receivedBodyBytes) bytes of DATA"))
        }
        enter(event)
        trailers = requestTrailerStorage.isEmpty ? nil : requestTrailerStorage
        requestProgress.ended()
        deliverRequestEndIfDue()
        return .ok
    }

    // MARK: body into the handler

    /// The handler hears of the request (after the read that opened the
    /// stream), then gets the body and end that arrived with its HEADERS.
    func startExchange() {
        handlerStarted = true
        withEngine { $0.handler.exchangeDidStart(self) }
        guard isLive else { return }
        // A body that came with the head was buffered; a GET has none.
        if bufferedBody.isEmpty {
            deliverRequestEndIfDue()
        } else {
            deliverBufferedBody()
        }
    }

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
        // Most requests have no trailers: passing a literal nil then spares
        // the retain and release of loading the optional property.
        if let trailers {
            withEngine { $0.handler.exchange(self, didFinishRequestWith: trailers) }
        } else {
            withEngine { $0.handler.exchange(self, didFinishRequestWith: nil) }
        }
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

    /// Bytes of this stream that reach no handler (discarded, padding,
    /// refused) go back to the connection window at once.
    private func creditConnection(_ count: Int) {
        withEngine { $0.creditConnection(count) }
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
            notifyClosed(reason: .completed)
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
        creditConnection(count)
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
            sendReset(code: .noError, notify: .completed)
        }
    }
}
