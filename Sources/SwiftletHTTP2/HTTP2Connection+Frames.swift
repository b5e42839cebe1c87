import SwiftletHPACK
import SwiftletHTTP
import SwiftletLoop

/// Frame handlers (RFC 9113 §6). Each validates what §4 and §6 require of
/// its type and returns what to do; the input loop acts on the result.
extension HTTP2Connection {
    func handleFrame(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameResult {
        let gate = state.receivedFrame(header.type, ack: header.type == .settings && header.flags.contains(.ack))
        guard gate == .ok else { return gate }
        // §6.10: a header block "MUST be followed by a CONTINUATION frame for
        // the same stream ... Receipt of any other type of frame or a frame on
        // a different stream MUST be treated as a connection error of type
        // PROTOCOL_ERROR."
        if let block = headerBlock, header.type != .continuation || header.streamID != block.streamID {
            return .connectionError(Rejection(.protocolError, "interleaved_header_block",
                                              "\(header.type) on stream \(header.streamID) inside the header block of stream \(block.streamID)"))
        }
        switch header.type {
        case .data: return handleData(header, payload)
        case .headers: return handleHeaders(header, payload)
        case .priority: return handlePriority(header, payload)
        case .rstStream: return handleRstStream(header, payload)
        case .settings: return handleSettings(header, payload)
        case .pushPromise:
            // §8.4: "A client cannot push. Thus, servers MUST treat the receipt
            // of a PUSH_PROMISE frame as a connection error of type PROTOCOL_ERROR."
            return .connectionError(Rejection(.protocolError, "push_promise_from_client", "clients cannot send PUSH_PROMISE"))
        case .ping: return handlePing(header, payload)
        case .goAway: return handleGoAway(header, payload)
        case .windowUpdate: return handleWindowUpdate(header, payload)
        case .continuation: return handleContinuation(header, payload)
        case .priorityUpdate: return handlePriorityUpdate(header, payload)
        default:
            // §4.1: "Implementations MUST ignore and discard frames of unknown types."
            return takeGlitch() ? .ignore : .ok
        }
    }

    // MARK: DATA (§6.1)

    func handleData(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameResult {
        let id = header.streamID
        // "If a DATA frame is received whose Stream Identifier field is 0x00,
        // the recipient MUST respond with a connection error of type PROTOCOL_ERROR."
        guard id != 0 else {
            return .connectionError(Rejection(.protocolError, "data_on_stream_zero", "DATA on stream 0"))
        }
        var data = payload
        if header.flags.contains(.padded) {
            guard payload.count >= 1 else {
                return .connectionError(Rejection(.frameSizeError, "padded_frame_too_short", "PADDED DATA without a pad length"))
            }
            let padding = Int(payload[0])
            // "If the length of the padding is the length of the frame payload
            // or greater, the recipient MUST treat this as a connection error
            // of type PROTOCOL_ERROR."
            guard padding < payload.count else {
                return .connectionError(Rejection(.protocolError, "padding_too_long", "DATA padding \(padding) ≥ payload \(payload.count)"))
            }
            data = UnsafeRawBufferPointer(rebasing: payload[1..<(payload.count - padding)])
        }
        let endStream = header.flags.contains(.endStream)
        // §6.9: "The entire DATA frame payload is included in flow control,
        // including the Pad Length and Padding fields if present."
        guard header.length <= receiveWindow else {
            return .connectionError(Rejection(.flowControlError, "connection_window_exceeded",
                                              "DATA of \(header.length) bytes exceeds the connection window \(receiveWindow)"))
        }
        receiveWindow -= header.length
        // Empty-frame flood (CVE-2019-9518).
        if data.count == 0 && !endStream {
            consecutiveEmptyData += 1
            if consecutiveEmptyData > limits.maxConsecutiveEmptyData {
                return .connectionError(Rejection(.enhanceYourCalm, "empty_data_flood", "consecutive empty DATA frames"))
            }
        } else {
            consecutiveEmptyData = 0
        }
        if header.length < limits.smallFrameSize && !endStream && !smallFrameBudget.take(now: loop.now) {
            return .connectionError(Rejection(.enhanceYourCalm, "small_frame_flood", "too many small frames"))
        }
        guard let stream = streams[id] else {
            creditConnection(header.length)
            if id > highestStreamID {
                return .connectionError(Rejection(.protocolError, "frame_on_idle_stream", "DATA on idle stream \(id)"))
            }
            if recentlyClosed.lookup(id) == .localReset { return .ignore }
            return .streamError(id, Rejection(.streamClosed, "data_on_closed_stream", "DATA on closed stream \(id)"))
        }
        guard header.length <= stream.receiveWindow else {
            creditConnection(header.length)
            return .streamError(id, Rejection(.flowControlError, "stream_window_exceeded",
                                              "DATA of \(header.length) bytes exceeds the stream window \(stream.receiveWindow)"))
        }
        // Frame order first (§5.1), then the request's own rules, both
        // judged in the state before this frame (a stream error must still
        // be able to reset the stream this frame would end).
        let event = StreamState.Event.receiveData(endStream: endStream)
        switch stream.state.admits(event) {
        case .ok: break
        case .ignore:
            creditConnection(header.length)
            return .ignore
        case .streamError(let rejection):
            creditConnection(header.length)
            return .streamError(id, rejection)
        case .connectionError(let rejection):
            return .connectionError(rejection)
        }
        let received = stream.receivedBodyBytes + data.count
        // §8.1.1: "A request or response is also malformed if the value of a
        // content-length header field does not equal the sum of the DATA frame
        // payload lengths that form the content".
        if let expected = stream.expectedContentLength, received > expected || (endStream && received != expected) {
            creditConnection(header.length)
            return .streamError(id, Rejection(.protocolError, "content_length_mismatch",
                                              "content-length \(expected) but \(received) bytes of DATA"))
        }
        stream.state.enter(event)
        stream.receiveWindow -= header.length
        // Padding is consumed at once.
        let padding = header.length - data.count
        if padding > 0 { consumed(stream, padding) }
        stream.receivedBodyBytes = received
        if data.count > 0 { deliverBody(stream, data) }
        if endStream {
            stream.requestComplete = true
            deliverRequestEndIfDue(stream)
        }
        return .ok
    }

    // MARK: HEADERS (§6.2)

    func handleHeaders(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameResult {
        let id = header.streamID
        // "If a HEADERS frame is received whose Stream Identifier field is 0x00,
        // the recipient MUST respond with a connection error of type PROTOCOL_ERROR."
        guard id != 0 else {
            return .connectionError(Rejection(.protocolError, "headers_on_stream_zero", "HEADERS on stream 0"))
        }
        var start = 0
        var padding = 0
        if header.flags.contains(.padded) {
            guard payload.count >= 1 else {
                return .connectionError(Rejection(.frameSizeError, "padded_frame_too_short", "PADDED HEADERS without a pad length"))
            }
            padding = Int(payload[0])
            start = 1
        }
        var selfDependent = false
        var weight: Int?
        if header.flags.contains(.priority) {
            guard payload.count >= start + 5 else {
                return .connectionError(Rejection(.frameSizeError, "headers_priority_too_short", "HEADERS with PRIORITY shorter than 5 bytes"))
            }
            let dependency = payload.readUInt32(at: start) & 0x7FFF_FFFF
            // §5.3.1: "A stream cannot depend on itself. An endpoint MUST treat
            // this as a stream error of type PROTOCOL_ERROR."
            selfDependent = dependency == id
            weight = Int(payload[start + 4]) + 1
            start += 5
        }
        // "Padding that exceeds the size remaining for the field block fragment
        // MUST be treated as a PROTOCOL_ERROR."
        guard padding <= payload.count - start else {
            return .connectionError(Rejection(.protocolError, "padding_too_long", "HEADERS padding \(padding) exceeds the payload"))
        }
        let fragment = UnsafeRawBufferPointer(rebasing: payload[start..<(payload.count - padding)])
        let endStream = header.flags.contains(.endStream)
        if header.flags.contains(.endHeaders) {
            return processHeaderBlock(id: id, endStream: endStream, selfDependent: selfDependent, weight: weight, block: fragment)
        }
        // The block continues in CONTINUATION frames: collect it.
        if payload.count < limits.smallFrameSize && !smallFrameBudget.take(now: loop.now) {
            return .connectionError(Rejection(.enhanceYourCalm, "small_frame_flood", "too many small frames"))
        }
        guard fragment.count <= limits.maxHeaderBlockBytes else {
            return .connectionError(Rejection(.enhanceYourCalm, "header_block_too_large", "header block exceeds \(limits.maxHeaderBlockBytes) bytes"))
        }
        headerBlockBuffer.removeAll(keepingCapacity: true)
        headerBlockBuffer.append(contentsOf: fragment)
        headerBlock = HeaderBlock(streamID: id, endStream: endStream, selfDependent: selfDependent, weight: weight)
        headerBlockTimer = schedule(.headerBlock, after: limits.headerBlockTimeout)
        return .ok
    }

    // MARK: CONTINUATION (§6.10)

    func handleContinuation(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameResult {
        // "A CONTINUATION frame MUST be preceded by a HEADERS, PUSH_PROMISE or
        // CONTINUATION frame without the END_HEADERS flag set. A recipient that
        // observes violation of this rule MUST respond with a connection error
        // of type PROTOCOL_ERROR."
        guard var block = headerBlock else {
            return .connectionError(Rejection(.protocolError, "unexpected_continuation", "CONTINUATION without a preceding HEADERS"))
        }
        block.frames += 1
        // CONTINUATION flood: frame count and raw size are bounded.
        guard block.frames <= limits.maxContinuationFrames else {
            return .connectionError(Rejection(.enhanceYourCalm, "continuation_flood", "more than \(limits.maxContinuationFrames) CONTINUATION frames"))
        }
        guard headerBlockBuffer.count + payload.count <= limits.maxHeaderBlockBytes else {
            return .connectionError(Rejection(.enhanceYourCalm, "header_block_too_large", "header block exceeds \(limits.maxHeaderBlockBytes) bytes"))
        }
        headerBlockBuffer.append(contentsOf: payload)
        headerBlock = block
        guard header.flags.contains(.endHeaders) else { return .ok }
        headerBlock = nil
        cancelTimer(&headerBlockTimer)
        return headerBlockBuffer.withUnsafeBytes { joined in
            processHeaderBlock(id: block.streamID, endStream: block.endStream, selfDependent: block.selfDependent,
                               weight: block.weight, block: joined)
        }
    }

    // MARK: a complete header block

    func processHeaderBlock(id: UInt32, endStream: Bool, selfDependent: Bool, weight: Int?, block: UnsafeRawBufferPointer) -> FrameResult {
        if let stream = streams[id] {
            return receiveTrailers(stream, endStream: endStream, block: block)
        }
        if id <= highestStreamID {
            // A closed stream (or an idle one implicitly closed by a higher id).
            // Decode anyway: the HPACK context must stay in step.
            var discard = RequestValidator(trailers: HTTPFields())
            do { try decoder.decode(block, into: &discard) } catch { return .connectionError(compression(error)) }
            switch recentlyClosed.lookup(id) {
            case .localReset:
                return .ignore
            case .endStream, .peerReset:
                return .connectionError(Rejection(.streamClosed, "headers_on_closed_stream", "HEADERS on closed stream \(id)"))
            case nil:
                // §5.1.1: "The identifier of a newly established stream MUST be
                // numerically greater than all streams that the initiating
                // endpoint has opened or reserved ... An endpoint that receives
                // an unexpected stream identifier MUST respond with a connection
                // error of type PROTOCOL_ERROR."
                return .connectionError(Rejection(.protocolError, "stream_id_not_increasing", "stream \(id) is not above \(highestStreamID)"))
            }
        }
        // §5.1.1: "Streams initiated by a client MUST use odd-numbered stream identifiers".
        guard id & 1 == 1 else {
            return .connectionError(Rejection(.protocolError, "even_stream_id", "client stream \(id) is even"))
        }
        highestStreamID = id
        let stream = makeStream(id: id)
        var validator = RequestValidator(request: stream.request)
        do {
            try decoder.decode(block, into: &validator)
        } catch {
            recycle(stream)
            return .connectionError(compression(error))
        }
        validator.finish()
        // §6.8: streams above the last id of a final GOAWAY are ignored.
        guard state.acceptsNewStream(id) else {
            recycle(stream)
            return .ignore
        }
        // Rapid reset: at most newStreamsPerTurnFactor × maxConcurrentStreams per turn.
        if newStreamsTurn != loop.turn {
            newStreamsTurn = loop.turn
            newStreamsThisTurn = 0
        }
        newStreamsThisTurn += 1
        guard newStreamsThisTurn <= limits.maxNewStreamsPerTurn else {
            recycle(stream)
            return .connectionError(Rejection(.enhanceYourCalm, "stream_flood", "more than \(limits.maxNewStreamsPerTurn) new streams in one turn"))
        }
        // §5.1.2: "An endpoint that receives a HEADERS frame that causes its
        // advertised concurrent stream limit to be exceeded MUST treat this as
        // a stream error of type PROTOCOL_ERROR or REFUSED_STREAM."
        guard streams.count < limits.maxConcurrentStreams else {
            recycle(stream)
            return .streamError(id, Rejection(.refusedStream, "max_concurrent_streams", "more than \(limits.maxConcurrentStreams) concurrent streams"))
        }
        if selfDependent {
            recycle(stream)
            return .streamError(id, Rejection(.protocolError, "self_dependency", "stream \(id) depends on itself"))
        }
        if let violation = validator.violation {
            recycle(stream)
            return .streamError(id, violation)
        }
        _ = stream.state.apply(.receiveHeaders(endStream: endStream))
        stream.expectedContentLength = validator.contentLength
        if endStream, let expected = stream.expectedContentLength, expected != 0 {
            recycle(stream)
            return .streamError(id, Rejection(.protocolError, "content_length_mismatch", "content-length \(expected) but no DATA"))
        }
        streams.insert(stream)
        applyRequestPriority(stream, weight: weight)
        counters.streamCount += 1
        requestCount += 1
        cancelTimer(&idleTimer)
        stream.started = loop.now
        if endStream { stream.requestComplete = true }
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
        do { try decoder.decode(block, into: &validator) } catch { return .connectionError(compression(error)) }
        // As for DATA: frame order, then the trailers' own rules, in the
        // state before this frame.
        let event = StreamState.Event.receiveHeaders(endStream: endStream)
        switch stream.state.admits(event) {
        case .ok: break
        case .ignore: return .ignore
        case .streamError(let rejection): return .streamError(stream.id, rejection)
        case .connectionError(let rejection): return .connectionError(rejection)
        }
        if let violation = validator.violation { return .streamError(stream.id, violation) }
        if let expected = stream.expectedContentLength, stream.receivedBodyBytes != expected {
            return .streamError(stream.id, Rejection(.protocolError, "content_length_mismatch",
                                                     "content-length \(expected) but \(stream.receivedBodyBytes) bytes of DATA"))
        }
        stream.state.enter(event)
        stream.trailers = trailers.isEmpty ? nil : trailers
        stream.requestComplete = true
        deliverRequestEndIfDue(stream)
        return .ok
    }

    func recycle(_ stream: HTTP2Stream) {
        stream.id = 0
        if freeStreams.count < limits.maxConcurrentStreams { freeStreams.append(stream) }
    }

    func compression(_ error: any Error) -> Rejection {
        // RFC 9113 §4.3: "A decoding error in a field block MUST be treated as
        // a connection error of type COMPRESSION_ERROR."
        let hpack = error as? HPACKError
        return Rejection(.compressionError, hpack?.token ?? "hpack_error", hpack?.reason ?? "\(error)")
    }

    // MARK: PRIORITY (§6.3)

    func handlePriority(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameResult {
        // "If a PRIORITY frame is received with a stream identifier of 0x00,
        // the recipient MUST respond with a connection error of type PROTOCOL_ERROR."
        guard header.streamID != 0 else {
            return .connectionError(Rejection(.protocolError, "priority_on_stream_zero", "PRIORITY on stream 0"))
        }
        // "A PRIORITY frame with a length other than 5 octets MUST be treated
        // as a stream error of type FRAME_SIZE_ERROR."
        guard header.length == 5 else {
            return .streamError(header.streamID, Rejection(.frameSizeError, "priority_frame_size", "PRIORITY of \(header.length) bytes"))
        }
        // Priority churn draws on the glitch budget.
        guard takeGlitch() else { return .ok }
        let dependency = payload.readUInt32(at: 0) & 0x7FFF_FFFF
        guard dependency != header.streamID else {
            return .streamError(header.streamID, Rejection(.protocolError, "self_dependency", "stream \(header.streamID) depends on itself"))
        }
        // An RFC 7540 reprioritization: a hint only for clients without RFC 9218 signals.
        if !clientUsesRFC9218, let stream = streams[header.streamID] {
            setPriority(stream, .fromRFC7540(weight: Int(payload[4]) + 1), source: .rfc7540)
        }
        return .ok
    }

    // MARK: PRIORITY_UPDATE (RFC 9218 §7.1)

    func handlePriorityUpdate(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameResult {
        // "PRIORITY_UPDATE frames ... MUST be sent on stream 0 ... an endpoint
        // that receives one with a stream identifier other than 0x00 MUST
        // respond with a connection error of type PROTOCOL_ERROR."
        guard header.streamID == 0 else {
            return .connectionError(Rejection(.protocolError, "priority_update_stream", "PRIORITY_UPDATE on stream \(header.streamID)"))
        }
        guard header.length >= 4 else {
            return .connectionError(Rejection(.frameSizeError, "priority_update_size", "PRIORITY_UPDATE shorter than 4 bytes"))
        }
        let prioritized = payload.readUInt32(at: 0) & 0x7FFF_FFFF
        // "If a PRIORITY_UPDATE frame is received with a Prioritized Stream ID
        // of 0x00, the recipient MUST respond with a connection error of type
        // PROTOCOL_ERROR."
        guard prioritized != 0 else {
            return .connectionError(Rejection(.protocolError, "priority_update_stream_zero", "PRIORITY_UPDATE for stream 0"))
        }
        guard takeGlitch() else { return .ok }
        clientUsesRFC9218 = true
        let priority = HTTPPriority.parse(UnsafeRawBufferPointer(rebasing: payload[4...]))
        if let stream = streams[prioritized] {
            setPriority(stream, priority, source: .frame)
        } else if prioritized > highestStreamID && prioritized & 1 == 1 {
            // "servers SHOULD buffer the most recently received PRIORITY_UPDATE
            // frame" for a stream not yet open (§7.1), within a bound.
            if pendingPriorities[prioritized] != nil || pendingPriorities.count < limits.maxPendingPriorityUpdates {
                pendingPriorities[prioritized] = priority
            }
        }
        return .ok
    }

    /// A new stream's priority: RFC 7540 weight as a hint (clients without
    /// RFC 9218 signals), then the priority header, then a PRIORITY_UPDATE
    /// that arrived before the stream opened.
    func applyRequestPriority(_ stream: HTTP2Stream, weight: Int?) {
        if let weight, !clientUsesRFC9218 && !peer.noRFC7540Priorities {
            setPriority(stream, .fromRFC7540(weight: weight), source: .rfc7540)
        }
        if let value = stream.request.fields.first("priority") {
            clientUsesRFC9218 = true
            setPriority(stream, HTTPPriority.parse(value), source: .header)
        }
        if !pendingPriorities.isEmpty {
            if let pending = pendingPriorities.removeValue(forKey: stream.id) {
                setPriority(stream, pending, source: .frame)
            }
            // Lower ids can no longer open (§5.1.1): drop what was buffered for them.
            pendingPriorities = pendingPriorities.filter { $0.key > stream.id }
        }
    }

    // MARK: RST_STREAM (§6.4)

    func handleRstStream(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameResult {
        // "A RST_STREAM frame with a length other than 4 octets MUST be treated
        // as a connection error of type FRAME_SIZE_ERROR."
        guard header.length == 4 else {
            return .connectionError(Rejection(.frameSizeError, "rst_stream_frame_size", "RST_STREAM of \(header.length) bytes"))
        }
        // "If a RST_STREAM frame is received with a stream identifier of 0x0,
        // the recipient MUST treat this as a connection error of type PROTOCOL_ERROR."
        guard header.streamID != 0 else {
            return .connectionError(Rejection(.protocolError, "rst_stream_on_stream_zero", "RST_STREAM on stream 0"))
        }
        // Rapid reset (CVE-2023-44487): the peer's resets draw on the budget.
        guard takeResetBudget() else { return .ok }
        let code = payload.readUInt32(at: 0)
        guard let stream = streams[header.streamID] else {
            // "If a RST_STREAM frame identifying an idle stream is received, the
            // recipient MUST treat this as a connection error of type PROTOCOL_ERROR."
            if header.streamID > highestStreamID {
                return .connectionError(Rejection(.protocolError, "frame_on_idle_stream", "RST_STREAM on idle stream \(header.streamID)"))
            }
            return .ignore
        }
        _ = stream.state.apply(.receiveReset)
        finishStream(stream, closedBy: .peerReset, reason: .cancelledByPeer(errorCode: code))
        return .ok
    }

    // MARK: SETTINGS (§6.5)

    func handleSettings(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameResult {
        // "If an endpoint receives a SETTINGS frame whose Stream Identifier field
        // is anything other than 0x00, the endpoint MUST respond with a
        // connection error of type PROTOCOL_ERROR."
        guard header.streamID == 0 else {
            return .connectionError(Rejection(.protocolError, "settings_on_stream", "SETTINGS on stream \(header.streamID)"))
        }
        if header.flags.contains(.ack) {
            // "Receipt of a SETTINGS frame with the ACK flag set and a length
            // field value other than 0 MUST be treated as a connection error of
            // type FRAME_SIZE_ERROR."
            guard header.length == 0 else {
                return .connectionError(Rejection(.frameSizeError, "settings_ack_with_payload", "SETTINGS ACK with \(header.length) bytes"))
            }
            settingsAcknowledged()
            return .ok
        }
        // "A SETTINGS frame with a length other than a multiple of 6 octets MUST
        // be treated as a connection error of type FRAME_SIZE_ERROR."
        guard header.length % 6 == 0 else {
            return .connectionError(Rejection(.frameSizeError, "settings_frame_size", "SETTINGS of \(header.length) bytes"))
        }
        guard header.length / 6 <= limits.maxSettingsPerFrame else {
            return .connectionError(Rejection(.enhanceYourCalm, "settings_flood", "more than \(limits.maxSettingsPerFrame) parameters in one SETTINGS"))
        }
        let previousWindow = Int(peer.initialWindowSize)
        var offset = 0
        while offset < payload.count {
            let parameter = SettingsParameter(rawValue: payload.readUInt16(at: offset))
            let value = payload.readUInt32(at: offset + 2)
            offset += 6
            if let rejection = peer.apply(parameter, value) { return .connectionError(rejection) }
            if parameter == .headerTableSize { encoder.setPeerHeaderTableSize(Int(value)) }
        }
        // §6.9.2: "When the value of SETTINGS_INITIAL_WINDOW_SIZE changes, a
        // receiver MUST adjust the size of all stream flow-control windows that
        // it maintains by the difference between the new value and the old
        // value." ... "An endpoint MUST treat a change to
        // SETTINGS_INITIAL_WINDOW_SIZE that causes any flow-control window to
        // exceed the maximum size as a connection error of type FLOW_CONTROL_ERROR."
        let delta = Int(peer.initialWindowSize) - previousWindow
        if delta != 0 {
            var overflowed: UInt32?
            streams.forEach { stream in
                if !stream.sendWindow.adjust(by: delta) && overflowed == nil { overflowed = stream.id }
            }
            if let overflowed {
                return .connectionError(Rejection(.flowControlError, "settings_window_overflow",
                                                  "SETTINGS_INITIAL_WINDOW_SIZE change overflows stream \(overflowed)'s window"))
            }
            if delta > 0 { scheduleAllWithBody() }
        }
        // Settings flood: ACKs waiting to be written are bounded.
        queuedAcks += 1
        guard queuedAcks <= limits.maxQueuedControlFrames else {
            return .connectionError(Rejection(.enhanceYourCalm, "settings_flood", "more than \(limits.maxQueuedControlFrames) unanswered SETTINGS"))
        }
        // "Upon receiving a SETTINGS frame with the ACK flag not set, the
        // recipient MUST ... immediately emit a SETTINGS frame with the ACK flag set."
        writeFrameHeaderOnly(FrameHeader(length: 0, type: .settings, flags: .ack, streamID: 0))
        return .ok
    }

    private func settingsAcknowledged() {
        guard settingsTimer != nil else { return }
        cancelTimer(&settingsTimer)
        decoder.headerTableSizeAcknowledged(limits.headerTableSize)
    }

    // MARK: PING (§6.7)

    func handlePing(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameResult {
        // "Receipt of a PING frame with a length field value other than 8 MUST
        // be treated as a connection error of type FRAME_SIZE_ERROR."
        guard header.length == 8 else {
            return .connectionError(Rejection(.frameSizeError, "ping_frame_size", "PING of \(header.length) bytes"))
        }
        // "If a PING frame is received with a Stream Identifier field value other
        // than 0x00, the recipient MUST respond with a connection error of type
        // PROTOCOL_ERROR."
        guard header.streamID == 0 else {
            return .connectionError(Rejection(.protocolError, "ping_on_stream", "PING on stream \(header.streamID)"))
        }
        let opaque = UInt64(payload.readUInt32(at: 0)) << 32 | UInt64(payload.readUInt32(at: 4))
        if header.flags.contains(.ack) {
            if opaque == Self.drainPingPayload { finishGracefulShutdown() }
            return .ok
        }
        // Ping flood: ACKs waiting to be written are bounded.
        queuedAcks += 1
        guard queuedAcks <= limits.maxQueuedControlFrames else {
            return .connectionError(Rejection(.enhanceYourCalm, "ping_flood", "more than \(limits.maxQueuedControlFrames) unanswered PINGs"))
        }
        // "Receivers of a PING frame that does not include an ACK flag MUST send
        // a PING frame with the ACK flag set in response, with an identical
        // frame payload."
        writePing(payload: opaque, ack: true)
        return .ok
    }

    // MARK: GOAWAY (§6.8)

    func handleGoAway(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameResult {
        // "An endpoint MUST treat a GOAWAY frame with a stream identifier other
        // than 0x00 as a connection error of type PROTOCOL_ERROR."
        guard header.streamID == 0 else {
            return .connectionError(Rejection(.protocolError, "goaway_on_stream", "GOAWAY on stream \(header.streamID)"))
        }
        guard header.length >= 8 else {
            return .connectionError(Rejection(.frameSizeError, "goaway_frame_size", "GOAWAY of \(header.length) bytes"))
        }
        // The client will open no more streams: finish the open ones, then close.
        let code = ErrorCode(rawValue: payload.readUInt32(at: 4))
        if code != .noError {
            logger.debug("peer sent GOAWAY \(code)")
            state.fail()
            closeAllStreams(reason: .connectionClosed)
            connection.close(.afterFlush)
            return .ok
        }
        if state == .active { _ = state.beginDraining() }
        state.finishDraining(lastStreamID: highestStreamID)
        if streams.isEmpty {
            state.close()
            connection.close(.afterFlush)
        }
        return .ok
    }

    // MARK: WINDOW_UPDATE (§6.9)

    func handleWindowUpdate(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) -> FrameResult {
        // "A WINDOW_UPDATE frame with a length other than 4 octets MUST be
        // treated as a connection error of type FRAME_SIZE_ERROR."
        guard header.length == 4 else {
            return .connectionError(Rejection(.frameSizeError, "window_update_frame_size", "WINDOW_UPDATE of \(header.length) bytes"))
        }
        let increment = Int(payload.readUInt32(at: 0) & 0x7FFF_FFFF)
        let id = header.streamID
        if id == 0 {
            // "A receiver MUST treat the receipt of a WINDOW_UPDATE frame with a
            // flow-control window increment of 0 as a stream error of type
            // PROTOCOL_ERROR; errors on the connection flow-control window MUST
            // be treated as a connection error."
            guard increment > 0 else {
                return .connectionError(Rejection(.protocolError, "window_update_zero", "connection WINDOW_UPDATE of 0"))
            }
            // "If a sender receives a WINDOW_UPDATE that causes a flow-control
            // window to exceed this maximum, it MUST terminate either the stream
            // or the connection, as appropriate."
            guard sendWindow.increase(by: increment) else {
                return .connectionError(Rejection(.flowControlError, "window_overflow", "connection window exceeds 2^31-1"))
            }
            scheduleAllWithBody()
            return .ok
        }
        guard let stream = streams[id] else {
            if id > highestStreamID {
                return .connectionError(Rejection(.protocolError, "frame_on_idle_stream", "WINDOW_UPDATE on idle stream \(id)"))
            }
            return .ignore  // allowed on closed streams for a while (§5.1)
        }
        guard increment > 0 else {
            return .streamError(id, Rejection(.protocolError, "window_update_zero", "stream WINDOW_UPDATE of 0"))
        }
        guard stream.sendWindow.increase(by: increment) else {
            return .streamError(id, Rejection(.flowControlError, "window_overflow", "stream \(id) window exceeds 2^31-1"))
        }
        if !stream.body.isEmpty || stream.endRequested || stream.bodySource != nil { schedule(stream) }
        return .ok
    }

    // MARK: request body delivery and flow-control credit

    /// Hands body bytes to the handler in place, or buffers them while it is
    /// paused (or while older buffered bytes wait).
    func deliverBody(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
        if stream.isDrainingRequest {
            // Nobody reads it: the connection gets the credit, the stream
            // none (the drain is bounded by the stream window), and a peer
            // that has used the window up cannot finish.
            creditConnection(data.count)
            if stream.receiveWindow == 0 && stream.state.canReceive { endRequestDrain(stream) }
            return
        }
        if !stream.handlerStarted || stream.bodyPaused || !stream.bufferedBody.isEmpty {
            stream.bufferedBody.append(copying: data)
            return
        }
        handler.exchange(stream, didReceiveBody: data)
        if stream.isLive { consumed(stream, data.count) }
    }

    /// Starts the handlers of the streams opened by the read just processed
    /// that are still open, then hands them the body and end that arrived
    /// with their HEADERS.
    func startPendingExchanges() {
        guard !pendingStarts.isEmpty else { return }
        for stream in pendingStarts where stream.isLive && !stream.handlerStarted {
            stream.handlerStarted = true
            handler.exchangeDidStart(stream)
            guard stream.isLive else { continue }
            // A body that came with the head was buffered; a GET has none.
            if stream.bufferedBody.isEmpty {
                deliverRequestEndIfDue(stream)
            } else {
                deliverBufferedBody(stream)
            }
        }
        pendingStarts.removeAll(keepingCapacity: true)
    }

    /// Delivers buffered body after `resumeRequestBody` (or once the handler started).
    func deliverBufferedBody(_ stream: HTTP2Stream) {
        while stream.isLive && !stream.bodyPaused, let chunk = stream.bufferedBody.firstRegion {
            handler.exchange(stream, didReceiveBody: chunk)
            guard stream.isLive else { return }
            stream.bufferedBody.advance(by: chunk.count)
            consumed(stream, chunk.count)
        }
        deliverRequestEndIfDue(stream)
        connection.requestWillFlush()
    }

    func deliverRequestEndIfDue(_ stream: HTTP2Stream) {
        if stream.isDrainingRequest {
            maybeCompleteStream(stream)
            return
        }
        guard stream.isLive, stream.handlerStarted, stream.requestComplete, !stream.requestFinishDelivered,
              !stream.bodyPaused, stream.bufferedBody.isEmpty else { return }
        stream.requestFinishDelivered = true
        handler.exchange(stream, didFinishRequestWith: stream.trailers)
        maybeCompleteStream(stream)
    }

    /// The handler has seen `count` bytes of `stream`: credit both windows,
    /// in batches (at least half the window, and at least 4 KiB).
    func consumed(_ stream: HTTP2Stream, _ count: Int) {
        creditConnection(count)
        guard stream.state.canReceive, !stream.isDrainingRequest else { return }
        stream.unacknowledgedBytes += count
        if !stream.windowRaised && limits.streamWindowSize > stream.advertisedWindow {
            // The handler reads: raise the window to the stream window setting.
            stream.windowRaised = true
            let raise = limits.streamWindowSize - stream.advertisedWindow + stream.unacknowledgedBytes
            stream.advertisedWindow = limits.streamWindowSize
            stream.receiveWindow += raise
            stream.unacknowledgedBytes = 0
            writeWindowUpdate(streamID: stream.id, increment: raise)
            return
        }
        if stream.unacknowledgedBytes >= max(stream.advertisedWindow / 2, 4096) {
            stream.receiveWindow += stream.unacknowledgedBytes
            writeWindowUpdate(streamID: stream.id, increment: stream.unacknowledgedBytes)
            stream.unacknowledgedBytes = 0
        }
    }

    /// Connection-level credit for bytes consumed or discarded.
    func creditConnection(_ count: Int) {
        guard count > 0 else { return }
        unacknowledgedConnectionBytes += count
        if unacknowledgedConnectionBytes >= max(advertisedConnectionWindow / 2, 4096) {
            receiveWindow += unacknowledgedConnectionBytes
            writeWindowUpdate(streamID: 0, increment: unacknowledgedConnectionBytes)
            unacknowledgedConnectionBytes = 0
        }
    }
}
