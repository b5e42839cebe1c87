import SwiftletHPACK
import SwiftletHTTP
import SwiftletLoop

/// Frame handlers (RFC 9113 §6). Each validates what §4 and §6 require of
/// its type and returns what to do; the input loop acts on the result.
extension HTTP2Engine {
    func handleFrame(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameResult {
        // On a copy, stored back: see `HTTP2Stream.apply` for why.
        var next = state
        let gate = next.receivedFrame(header.type, ack: header.type == .settings && header.flags.contains(.ack))
        state = next
        guard gate == .ok else { return gate }
        // §6.10: nothing may come between the pieces of a header block.
        if isCollectingHeaderBlock, let rejection = headerBlock.interrupted(by: header.type, streamID: header.streamID) {
            return .connectionError(rejection)
        }
        switch FrameDecoder.decode(header, payload) {
        case .frame(let frame): return handle(frame)
        case .streamError(let id, let rejection): return .streamError(id, rejection)
        case .connectionError(let rejection): return .connectionError(rejection)
        }
    }

    /// Decides what a decoded frame means for the connection (§5, §6, §8).
    func handle(_ frame: InboundFrame) -> FrameResult {
        switch frame {
        case .data(let id, let data, let length, let endStream):
            return handleData(id, data, flowControlledLength: length, endStream: endStream)
        case .headers(let id, let fragment, let endStream, let endHeaders, let priority):
            return handleHeaders(id, fragment, endStream: endStream, endHeaders: endHeaders, priority: priority)
        case .priority(let id, let fields):
            return handlePriority(id, fields)
        case .rstStream(let id, let code):
            return handleRstStream(id, code: code)
        case .settings(let entries):
            return handleSettings(entries)
        case .settingsAck:
            settingsAcknowledged()
            return .ok
        case .pushPromise:
            // §8.4: "A client cannot push. Thus, servers MUST treat the receipt
            // of a PUSH_PROMISE frame as a connection error of type PROTOCOL_ERROR."
            return .connectionError(Rejection(.pushPromiseFromClient, "clients cannot send PUSH_PROMISE"))
        case .ping(let opaque, let ack):
            return handlePing(opaque, ack: ack)
        case .goAway(_, let code, _):
            return handleGoAway(code: code)
        case .windowUpdate(let id, let increment):
            return handleWindowUpdate(id, increment: increment)
        case .continuation(_, let fragment, let endHeaders):  // on the block's stream (`interrupted`)
            return handleContinuation(fragment, endHeaders: endHeaders)
        case .priorityUpdate(let prioritized, let value):
            return handlePriorityUpdate(prioritized, value)
        case .unknown:
            // §4.1: "Implementations MUST ignore and discard frames of unknown
            // types." They draw on the glitch budget.
            return glitch() ?? .ignore
        }
    }

    /// A frame for a stream that is not open (`StreamAdmission.withoutStream`).
    func withoutStream(_ type: FrameType, _ id: UInt32) -> FrameResult {
        StreamAdmission.withoutStream(type, id, highestStreamID: highestStreamID,
                                      closedBy: hasStreamState ? recentlyClosed.lookup(id) : nil)
    }

    /// Takes a glitch; the connection error if the budget is spent.
    func glitch() -> FrameResult? {
        abuse.glitch(now: clockNow, limits: limits).map { .connectionError($0) }
    }

    // MARK: DATA (§6.1)

    func handleData(_ id: UInt32, _ data: UnsafeRawBufferPointer, flowControlledLength length: Int, endStream: Bool) -> FrameResult {
        // §6.9.1: a frame that exceeds the connection window is a connection
        // error of type FLOW_CONTROL_ERROR.
        guard inbound.take(length) else {
            return .connectionError(Rejection(.connectionWindowExceeded,
                                              "DATA of \(length) bytes exceeds the connection window \(inbound.available)"))
        }
        if let rejection = abuse.data(payloadLength: data.count, frameLength: length, endStream: endStream, now: clockNow, limits: limits) {
            return .connectionError(rejection)
        }
        guard let stream = streams[id] else {
            creditConnection(length)
            return withoutStream(.data, id)
        }
        return stream.receiveData(data, flowControlledLength: length, endStream: endStream)
    }

    // MARK: HEADERS (§6.2)

    func handleHeaders(_ id: UInt32, _ fragment: UnsafeRawBufferPointer, endStream: Bool, endHeaders: Bool,
                       priority: PriorityFields?) -> FrameResult {
        // RFC 7540 §5.3.1's self-dependency is judged once the block is
        // decoded, so the HPACK state stays in step (`StreamAdmission`).
        let selfDependent = priority?.dependency == id
        let weight = priority?.weight
        if endHeaders {
            return processHeaderBlock(id: id, endStream: endStream, selfDependent: selfDependent, weight: weight, block: fragment)
        }
        // The block continues in CONTINUATION frames: collect it.
        if let rejection = abuse.smallFrame(length: fragment.count, now: clockNow, limits: limits) { return .connectionError(rejection) }
        let block = HeaderBlockAssembly.Block(streamID: id, endStream: endStream, selfDependent: selfDependent, weight: weight)
        if let rejection = headerBlock.begin(block, fragment: fragment, limits: limits) { return .connectionError(rejection) }
        schedule(.headerBlock, after: limits.headerBlockTimeout)
        return .ok
    }

    // MARK: CONTINUATION (§6.10)

    func handleContinuation(_ payload: UnsafeRawBufferPointer, endHeaders: Bool) -> FrameResult {
        switch headerBlock.continuation(payload, endHeaders: endHeaders, limits: limits) {
        case .continuing:
            return .ok
        case .rejected(let rejection):
            return .connectionError(rejection)
        case .complete(let block):
            cancel(.headerBlock)
            return headerBlock.withBytes { joined in
                processHeaderBlock(id: block.streamID, endStream: block.endStream, selfDependent: block.selfDependent,
                                   weight: block.weight, block: joined)
            }
        }
    }

    // MARK: a complete header block

    func processHeaderBlock(id: UInt32, endStream: Bool, selfDependent: Bool, weight: Int?, block: UnsafeRawBufferPointer) -> FrameResult {
        if let stream = streams[id] {
            return receiveTrailers(stream, endStream: endStream, block: block)
        }
        if case .notNew(let verdict) = StreamAdmission.identify(id, highestStreamID: highestStreamID,
                                                                closedBy: recentlyClosed.lookup(id)) {
            // Decoded anyway: the HPACK context must stay in step.
            var discard = DiscardingSink()
            if let error = decodeBlock(block, into: &discard) { return .connectionError(compression(error)) }
            return verdict
        }
        highestStreamID = id
        let stream = makeStream(id: id)
        var validator = RequestValidator(request: stream.requestReference, fields: stream.requestFieldsReference,
                                         extendedConnect: limits.enableConnectProtocol)
        if let error = decodeBlock(block, into: &validator) {
            recycle(stream)
            return .connectionError(compression(error))
        }
        validator.finish()
        // Rapid reset: at most newStreamsPerTurnFactor × maxConcurrentStreams per read.
        if let rejection = checkAbuse({ $0.newStream(limits: limits) }) {
            recycle(stream)
            return .connectionError(rejection)
        }
        let request = StreamAdmission.Request(id: id, endStream: endStream, selfDependent: selfDependent,
                                              violation: validator.violation, contentLength: validator.contentLength)
        let verdict = StreamAdmission.admit(request, connection: state, openStreams: streams.count,
                                            maxConcurrentStreams: limits.maxConcurrentStreams)
        guard case .ok = verdict else {
            recycle(stream)
            return verdict
        }
        stream.enter(.receiveHeaders(endStream: endStream))
        stream.expectedContentLength = validator.contentLength
        streams.insert(stream)
        stream.applyOpeningPriority(weight: weight)
        counters.streamCount += 1
        requestCount += 1
        cancel(.idle)
        stream.started = clockNow
        if endStream { stream.requestProgress.ended() }
        // The handler hears of the request once every frame of this read was
        // processed (`startPendingExchanges`): a stream the peer resets in
        // the same read (rapid reset) never starts, so it costs no response.
        pendingStarts.append(stream)
        // GOAWAY after enough requests, and before stream ids run out.
        if requestCount >= limits.maxRequestsPerConnection || highestStreamID >= 0x7FFF_FFFF - 2 * UInt32(limits.maxConcurrentStreams) {
            beginGracefulShutdown()
        }
        return .ok
    }

    private func receiveTrailers(_ stream: HTTP2Stream, endStream: Bool, block: UnsafeRawBufferPointer) -> FrameResult {
        let trailers = stream.requestTrailerStorage
        trailers.removeAll()
        var validator = RequestValidator(trailers: trailers)
        if let error = decodeBlock(block, into: &validator) { return .connectionError(compression(error)) }
        return stream.receiveTrailers(endStream: endStream, violation: validator.violation)
    }

    /// Takes the fields of a header block decoded only to keep the HPACK
    /// context in step.
    struct DiscardingSink: HPACKSink {
        mutating func field(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, neverIndexed: Bool) {}
    }

    func recycle(_ stream: HTTP2Stream) {
        stream.id = 0
        streamPool.give(stream)
    }

    func compression(_ error: HPACKError) -> Rejection {
        // RFC 9113 §4.3: "A decoding error in a field block MUST be treated as
        // a connection error of type COMPRESSION_ERROR."
        Rejection(Violation(error), error.reason)
    }

    // MARK: PRIORITY (§6.3)

    func handlePriority(_ id: UInt32, _ fields: PriorityFields) -> FrameResult {
        // Priority churn draws on the glitch budget.
        if let result = glitch() { return result }
        // An RFC 7540 reprioritization: a hint only for clients without RFC 9218 signals.
        if let stream = streams[id], let hint = priorities.hint(weight: fields.weight, peerDisabledRFC7540: peer.noRFC7540Priorities) {
            stream.prioritize(hint, source: .rfc7540)
        }
        return .ok
    }

    // MARK: PRIORITY_UPDATE (RFC 9218 §7.1)

    func handlePriorityUpdate(_ prioritized: UInt32, _ value: UnsafeRawBufferPointer) -> FrameResult {
        if let result = glitch() { return result }
        let stream = streams[prioritized]
        if let priority = priorities.update(HTTPPriority.parse(value), for: prioritized, isOpen: stream != nil,
                                            canOpen: prioritized > highestStreamID && prioritized & 1 == 1),
           let stream {
            stream.prioritize(priority, source: .frame)
        }
        return .ok
    }

    // MARK: RST_STREAM (§6.4)

    func handleRstStream(_ id: UInt32, code: ErrorCode) -> FrameResult {
        // Rapid reset (CVE-2023-44487): the peer's resets draw on the budget.
        if let rejection = abuse.reset(now: clockNow, limits: limits) { return .connectionError(rejection) }
        guard let stream = streams[id] else { return withoutStream(.rstStream, id) }
        stream.enter(.receiveReset)
        finishStream(stream, closedBy: .peerReset, reason: .cancelledByPeer(errorCode: code.rawValue))
        return .ok
    }

    // MARK: SETTINGS (§6.5)

    func handleSettings(_ entries: SettingsEntries) -> FrameResult {
        if let rejection = abuse.settings(count: entries.count, limits: limits) { return .connectionError(rejection) }
        var settings = peer  // on a copy: see `HTTP2Stream.apply`
        let change = settings.apply(entries)
        peer = settings
        if let rejection = change.rejection { return .connectionError(rejection) }
        if let smallest = change.smallestHeaderTableSize {
            if hasStreamState {
                // RFC 7541 §4.2: the smallest size since the last block, then the final one.
                let final = Int(peer.headerTableSize)
                withEncoder { encoder in
                    encoder.setPeerHeaderTableSize(Int(smallest))
                    encoder.setPeerHeaderTableSize(final)
                }
            } else {
                // No encoder yet: it is made with these (`makeInPlace`).
                smallestPeerTableSizeBeforeEncoder = min(smallestPeerTableSizeBeforeEncoder ?? smallest, smallest)
            }
        }
        // §6.9.2: "When the value of SETTINGS_INITIAL_WINDOW_SIZE changes, a
        // receiver MUST adjust the size of all stream flow-control windows that
        // it maintains by the difference between the new value and the old
        // value." ... "An endpoint MUST treat a change to
        // SETTINGS_INITIAL_WINDOW_SIZE that causes any flow-control window to
        // exceed the maximum size as a connection error of type FLOW_CONTROL_ERROR."
        let delta = change.initialWindowDelta
        if delta != 0 && hasStreamState {
            var overflowed: UInt32?
            streams.forEach { stream in
                if !stream.sendWindow.adjust(by: delta) && overflowed == nil { overflowed = stream.id }
            }
            if let overflowed {
                return .connectionError(Rejection(.settingsWindowOverflow,
                                                  "SETTINGS_INITIAL_WINDOW_SIZE change overflows stream \(overflowed)'s window"))
            }
            if delta > 0 { scheduleAllWithBody() }
        }
        // Settings flood: ACKs waiting to be written are bounded.
        if let rejection = checkAbuse({ $0.queueAck(of: .settings, limits: limits) }) { return .connectionError(rejection) }
        // "Upon receiving a SETTINGS frame with the ACK flag not set, the
        // recipient MUST ... immediately emit a SETTINGS frame with the ACK flag set."
        transport.writeSettingsAck()
        return .ok
    }

    func settingsAcknowledged() {
        guard !settingsAcknowledgedByPeer else { return }
        settingsAcknowledgedByPeer = true
        cancel(.settings)
        // Without a decoder yet, it is made with our size (`makeInPlace`).
        if hasStreamState {
            let size = limits.headerTableSize
            withDecoder { $0.headerTableSizeAcknowledged(size) }
        }
    }

    // MARK: PING (§6.7)

    func handlePing(_ opaque: UInt64, ack: Bool) -> FrameResult {
        if ack {
            if opaque == Self.drainPingPayload { finishGracefulShutdown() }
            return .ok
        }
        // Ping flood: ACKs waiting to be written are bounded.
        if let rejection = checkAbuse({ $0.queueAck(of: .ping, limits: limits) }) { return .connectionError(rejection) }
        // "Receivers of a PING frame that does not include an ACK flag MUST send
        // a PING frame with the ACK flag set in response, with an identical
        // frame payload."
        transport.writePing(payload: opaque, ack: true)
        return .ok
    }

    // MARK: GOAWAY (§6.8)

    func handleGoAway(code: ErrorCode) -> FrameResult {
        if code != .noError { logger.debug("peer sent GOAWAY \(code)") }
        perform(state.receivedGoAway(code: code, lastStreamID: highestStreamID, streamsOpen: openStreamCount > 0))
        return .ok
    }

    // MARK: WINDOW_UPDATE (§6.9)

    func handleWindowUpdate(_ id: UInt32, increment: Int) -> FrameResult {
        if id == 0 {
            if let refusal = sendWindow.receiveUpdate(increment) { return .connectionError(refusal.rejection(streamID: 0)) }
            scheduleAllWithBody()
            return .ok
        }
        guard let stream = streams[id] else { return withoutStream(.windowUpdate, id) }
        return stream.receiveWindowUpdate(increment)
    }

    // MARK: request bodies

    /// Starts the handlers of the streams opened by the read just processed
    /// that are still open, then hands them the body and end that arrived
    /// with their HEADERS.
    func startPendingExchanges() {
        guard hasStreamState, !pendingStarts.isEmpty else { return }
        for stream in pendingStarts where stream.isLive && !stream.handlerStarted { stream.startExchange() }
        pendingStarts.removeAll(keepingCapacity: true)
    }

    /// Connection-level credit for bytes consumed or discarded.
    func creditConnection(_ count: Int) {
        if let increment = inbound.consumed(count) { transport.writeWindowUpdate(streamID: 0, increment: increment) }
    }
}
