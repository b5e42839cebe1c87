import SwiftletHTTP

/// A stream's response half: its head written as the handler sends it,
/// and its share of a turn's DATA, written when the write scheduler picks
/// it (`HTTP2Engine.produceOutput`), within both flow-control windows, the
/// frame limit and the turn's budget (`DataFrameSizing`), with tiny frames
/// held back and counted (`WindowDribble`). The connection-wide parts (its
/// window, the HPACK encoder, the scheduler, the dribble budget) are the
/// engine's, used here through `withEngine`.
extension HTTP2Stream {
    /// The handler's `sendHead`: a 1xx (any number, each with its own
    /// fields) or the final head, as one header block.
    func writeHead(status: Int, endOfStream: Bool) {
        guard isLive, !headSent, state.canSend else { return }
        let status = HTTPStatus.checked(status)
        // RFC 9113 §8.6: "HTTP/2 removes support for the 101 (Switching
        // Protocols) informational status code." (A WebSocket over HTTP/2 is
        // answered 200, RFC 8441 §5.)
        if status == 101 {
            withEngine { $0.logger.error("a handler's 101 on stream \(id) answered with 500 instead: HTTP/2 has no 101") }
            responseFields.removeAll()
            return writeHead(status: 500, endOfStream: true)
        }
        let informational = status < 200
        withEngine { engine in
            engine.encodeBlock(status: status, fields: responseFields)
            engine.writeHeaderBlock(streamID: id, block: engine.headerOutput.bytes, endStream: endOfStream && !informational)
        }
        if informational {
            // 1xx: a final head follows, with fields of its own.
            responseFields.removeAll()
            return
        }
        let sent = responseProgress.headSent(endStream: endOfStream)
        assert(sent, "the final head went out twice")
        self.status = status
        enter(.sendHeaders(endStream: endOfStream))
        if endOfStream { sentEnd() }
    }

    /// A WINDOW_UPDATE for this stream (§6.9.1), after the connection's
    /// checks.
    func receiveWindowUpdate(_ increment: Int) -> FrameResult {
        // §6.9, §6.9.1: a zero increment or an overflow resets the stream.
        if let refusal = sendWindow.receiveUpdate(increment) { return .streamError(id, refusal.rejection(streamID: id)) }
        if hasOutputToWrite { withEngine { $0.schedule(self) } }
        return .ok
    }

    /// Writes what the scheduler picked this stream for: at most one DATA
    /// frame (pulling from a body source first), or the end of the stream
    /// (trailers, or an empty DATA frame with END_STREAM). Returns false if
    /// the connection failed meanwhile (the window-dribble budget ran out),
    /// which ends the turn's output.
    func writeData(budget: inout Int, frameLimit: Int) -> Bool {
        withEngine { engine in
            guard isLive, headSent else { return true }
            let now = engine.transport.now
            // A stream held back for window dribble waits for the dribble
            // timer (which schedules it again), pulling nothing meanwhile.
            if dribble.isHeld(now: now) {
                engine.armDribbleTimer(at: dribble.heldUntil)
                return true
            }
            if let source = bodySource, body.pendingBytes < engine.configuration.maxDataFrameSize, !endRequested {
                // Pull: ask for what the windows and the budget allow now.
                let room = min(sendWindow.value, engine.sendWindow.value, budget)
                guard room > 0 else { return true }
                let before = body.pendingBytes
                source.exchange(self, wantsBodyUpTo: room)
                guard isLive else { return true }
                if endRequested { bodySource = nil }
                if body.pendingBytes == before && !endRequested {
                    bodySourceWaiting = true
                    return true
                }
            }
            let pending = body.pendingBytes
            guard pending > 0 else {
                if endRequested { writeEnd(budget: &budget, engine) }
                return true
            }
            let sizing = DataFrameSizing(pending: pending, streamWindow: sendWindow.value, connectionWindow: engine.sendWindow.value,
                                         frameLimit: frameLimit, budget: budget, moreToCome: bodySource != nil && !endRequested,
                                         endQueued: endRequested, hasTrailers: pendingTrailers != nil)
            guard case .frame(let length, let last, let cutByWindow) = sizing.next else { return true }  // WINDOW_UPDATE reschedules
            if cutByWindow && length < engine.limits.minDataFrameSize {
                switch dribble.tinyFrame(now: now, delay: engine.limits.dribbleDelay.nanoseconds) {
                case .send:
                    break
                case .hold(let deadline):
                    engine.armDribbleTimer(at: deadline)  // schedules the stream again
                    return true
                case .sendAndCount:
                    guard engine.takeDribble() else { return false }
                }
            }
            dribble.frameSent()
            engine.transport.writeFrameHeader(FrameHeader(length: length, type: .data, flags: last ? .endStream : [], streamID: id))
            engine.transport.write(movingFrom: body, upTo: length, copyThreshold: engine.configuration.dataCopyThreshold)
            engine.sendWindow.consume(length)
            sendWindow.consume(length)
            bodyBytesSent += length
            budget -= length + FrameHeader.size
            if last {
                enter(.sendData(endStream: true))
                endWritten()
                return true
            }
            if wasUnwritable && body.pendingBytes <= bodyHighWatermark / 2 {
                wasUnwritable = false
                engine.handler.exchangeDidBecomeWritable(self)
            }
            if isLive && hasOutputToWrite { engine.scheduler.enqueue(self) }
            return true
        }
    }

    /// The body is all out and the end is queued: trailers, or an empty
    /// DATA frame with END_STREAM.
    private func writeEnd(budget: inout Int, _ engine: HTTP2Engine) {
        if let trailers = pendingTrailers {
            engine.encodeBlock(status: nil, fields: trailers)
            engine.writeHeaderBlock(streamID: id, block: engine.headerOutput.bytes, endStream: true)
            enter(.sendHeaders(endStream: true))
        } else {
            engine.transport.writeFrameHeader(FrameHeader(length: 0, type: .data, flags: .endStream, streamID: id))
            enter(.sendData(endStream: true))
        }
        budget -= FrameHeader.size
        endWritten()
    }

    /// The END_STREAM the handler queued is written.
    private func endWritten() {
        let sent = responseProgress.endSent()
        assert(sent, "END_STREAM written without being queued")
        sentEnd()
    }

    /// Our END_STREAM is out: the stream is done if the request is too;
    /// otherwise the rest of the request is drained (§8.1).
    private func sentEnd() {
        if state == .closed(.endStream) {
            completeIfBothEnded()
        } else if !requestComplete && state.canReceive {
            beginRequestDrain()
        }
    }
}
