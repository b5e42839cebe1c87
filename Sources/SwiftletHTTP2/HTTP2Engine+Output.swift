import SwiftletHPACK
import SwiftletHTTP
import SwiftletLoop

/// Writing frames. Control frames and header blocks are written into the
/// transport's output as they arise; DATA is generated in
/// `produceOutput`, at the end of the turn, after that turn's control
/// frames, and only while the connection window, the stream window and the
/// per-turn output budget all have room (so no pre-split queue of frames
/// exists for a peer to make grow: CVE-2019-9511, CVE-2019-9517).
extension HTTP2Engine {
    // MARK: header blocks

    /// Writes `block` as HEADERS plus CONTINUATION frames within the peer's
    /// SETTINGS_MAX_FRAME_SIZE.
    func writeHeaderBlock(streamID: UInt32, block: UnsafeRawBufferPointer, endStream: Bool) {
        transport.writeHeaderBlock(streamID: streamID, block: block, endStream: endStream, maxFrameSize: Int(peer.maxFrameSize))
    }

    /// Encodes a response head (`status`) or trailers (`nil`) into
    /// `headerOutput` (how: `ResponseHeadEncoding`).
    func encodeBlock(status: Int?, fields: HTTPFieldList) {
        headerOutput.removeAll()
        ResponseHeadEncoding.encode(status: status, fields: fields, with: encoder, into: &headerOutput)
    }

    // MARK: responses

    func sendHead(_ stream: HTTP2Stream, status: Int, endOfStream: Bool) {
        guard stream.isLive, !stream.headSent, stream.state.canSend else { return }
        let status = HTTPStatus.checked(status)
        // RFC 9113 §8.6: "HTTP/2 removes support for the 101 (Switching
        // Protocols) informational status code." (A WebSocket over HTTP/2 is
        // answered 200, RFC 8441 §5.)
        if status == 101 {
            logger.error("a handler's 101 on stream \(stream.id) answered with 500 instead: HTTP/2 has no 101")
            stream.responseFields.removeAll()
            return sendHead(stream, status: 500, endOfStream: true)
        }
        encodeBlock(status: status, fields: stream.responseFields)
        let informational = status < 200
        writeHeaderBlock(streamID: stream.id, block: headerOutput.bytes, endStream: endOfStream && !informational)
        if informational {
            // 1xx: a final head follows, with fields of its own.
            stream.responseFields.removeAll()
            return
        }
        let sent = stream.responseProgress.headSent(endStream: endOfStream)
        assert(sent, "the final head went out twice")
        stream.status = status
        stream.enter(.sendHeaders(endStream: endOfStream))
        if endOfStream { streamSentEnd(stream) }
    }

    /// A handler queued body (or asked to finish): let the scheduler see it.
    func bodyQueued(_ stream: HTTP2Stream) {
        if !stream.isWritable { stream.wasUnwritable = true }
        schedule(stream)
    }

    func schedule(_ stream: HTTP2Stream) {
        scheduler.enqueue(stream)
        transport.requestWillFlush()
    }

    func scheduleAllWithBody() {
        streams.forEach { stream in
            if stream.headSent && (!stream.body.isEmpty || stream.endRequested || stream.bodySource != nil) {
                scheduler.enqueue(stream)
            }
        }
        if !scheduler.isEmpty { transport.requestWillFlush() }
    }

    // MARK: the turn's DATA

    /// Generates this turn's DATA (and trailers, and stream ends) within the
    /// windows and the per-turn budget. The transport asks for it
    /// (`requestWillFlush`) before its output is next written.
    public func produceOutput() {
        guard state.isReading || state == .closing else { return }
        var budget = configuration.outputBudgetPerTurn
        let frameLimit = min(configuration.maxDataFrameSize, Int(peer.maxFrameSize))
        while budget > 0 && transport.isWritable, let stream = scheduler.next(lookup: { streams[$0] }) {
            guard stream.isLive, stream.headSent else { continue }
            // A stream held back for window dribble waits for the dribble
            // timer (which schedules it again), pulling nothing meanwhile.
            if stream.dribble.isHeld(now: transport.now) {
                armDribbleTimer(at: stream.dribble.heldUntil)
                continue
            }
            if let source = stream.bodySource, stream.body.pendingBytes < configuration.maxDataFrameSize, !stream.endRequested {
                // Pull: ask for what the windows and the budget allow now.
                let room = min(stream.sendWindow.value, sendWindow.value, budget)
                guard room > 0 else { continue }
                let before = stream.body.pendingBytes
                source.exchange(stream, wantsBodyUpTo: room)
                guard stream.isLive else { continue }
                if stream.endRequested { stream.bodySource = nil }
                if stream.body.pendingBytes == before && !stream.endRequested {
                    stream.bodySourceWaiting = true
                    continue
                }
            }
            let pending = stream.body.pendingBytes
            if pending > 0 {
                let sizing = DataFrameSizing(pending: pending, streamWindow: stream.sendWindow.value, connectionWindow: sendWindow.value,
                                             frameLimit: frameLimit, budget: budget,
                                             moreToCome: stream.bodySource != nil && !stream.endRequested,
                                             endQueued: stream.endRequested, hasTrailers: stream.pendingTrailers != nil)
                guard case .frame(let length, let last, let cutByWindow) = sizing.next else { continue }  // re-scheduled by WINDOW_UPDATE
                if cutByWindow && length < limits.minDataFrameSize {
                    switch stream.dribble.tinyFrame(now: transport.now, delay: limits.dribbleDelay.nanoseconds) {
                    case .send:
                        break
                    case .hold(let deadline):
                        armDribbleTimer(at: deadline)  // schedules the stream again
                        continue
                    case .sendAndCount:
                        guard takeDribble() else { return }
                    }
                }
                stream.dribble.frameSent()
                transport.writeFrameHeader(FrameHeader(length: length, type: .data, flags: last ? .endStream : [], streamID: stream.id))
                transport.write(movingFrom: stream.body, upTo: length, copyThreshold: configuration.dataCopyThreshold)
                sendWindow.consume(length)
                stream.sendWindow.consume(length)
                stream.bodyBytesSent += length
                budget -= length + FrameHeader.size
                if last {
                    stream.enter(.sendData(endStream: true))
                    endSent(stream)
                    continue
                }
                if stream.wasUnwritable && stream.body.pendingBytes <= stream.bodyHighWatermark / 2 {
                    stream.wasUnwritable = false
                    handler.exchangeDidBecomeWritable(stream)
                }
                if stream.isLive && (!stream.body.isEmpty || stream.endRequested || stream.bodySource != nil) {
                    scheduler.enqueue(stream)
                }
            } else if stream.endRequested {
                if let trailers = stream.pendingTrailers {
                    encodeBlock(status: nil, fields: trailers)
                    writeHeaderBlock(streamID: stream.id, block: headerOutput.bytes, endStream: true)
                    stream.enter(.sendHeaders(endStream: true))
                } else {
                    transport.writeFrameHeader(FrameHeader(length: 0, type: .data, flags: .endStream, streamID: stream.id))
                    stream.enter(.sendData(endStream: true))
                }
                budget -= FrameHeader.size
                endSent(stream)
            }
        }
        // Budget spent with work left: continue next turn.
        if budget <= 0 && !scheduler.isEmpty { transport.requestWillFlush() }
        armWriteTimerIfNeeded()
    }

    /// Schedules every stream again at `deadline` (or earlier, if the timer
    /// is already set for an earlier hold).
    func armDribbleTimer(at deadline: UInt64) {
        if !timers.isPending(.dribble) { schedule(.dribble, at: deadline) }
    }

    /// The END_STREAM the handler queued is written.
    func endSent(_ stream: HTTP2Stream) {
        let sent = stream.responseProgress.endSent()
        assert(sent, "END_STREAM written without being queued")
        streamSentEnd(stream)
    }

    /// Our END_STREAM is out.
    func streamSentEnd(_ stream: HTTP2Stream) {
        if stream.state == .closed(.endStream) {
            finishStream(stream, closedBy: .endStream, reason: .completed)
        } else if !stream.requestComplete && stream.state.canReceive {
            stream.beginRequestDrain()
        }
    }

    /// A stream began draining its request until `deadline`
    /// (`HTTP2Stream.beginRequestDrain`): the drain timer covers it.
    func requestDrainStarted(until deadline: UInt64) {
        if !timers.isPending(.requestDrain) { schedule(.requestDrain, at: deadline) }
    }

    /// Resets the streams whose drain deadline passed; re-arms for the next.
    func requestDrainTimerFired() {
        var next: UInt64 = .max
        var expired: [HTTP2Stream] = []
        streams.forEach { stream in
            guard let deadline = stream.requestProgress.drainDeadline else { return }
            if deadline <= transport.now { expired.append(stream) } else { next = min(next, deadline) }
        }
        for stream in expired { stream.endRequestDrain() }
        if next != .max && !timers.isPending(.requestDrain) && !transport.isClosed { schedule(.requestDrain, at: next) }
    }
}
