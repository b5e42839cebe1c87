import SwiftletHPACK
import SwiftletHTTP
import SwiftletLoop

/// Output. Control frames and header blocks are written into the
/// transport's output as they arise (`HTTP2Transport+Frames.swift`); DATA
/// is generated in `produceOutput`, at the end of the turn, after that
/// turn's control frames, and only while the connection window, the stream
/// window and the per-turn output budget all have room (so no pre-split
/// queue of frames exists for a peer to make grow: CVE-2019-9511,
/// CVE-2019-9517). Each stream writes its own share
/// (`HTTP2Stream.writeData`).
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
        withEncoder { encoder in
            if let status {
                ResponseHeadEncoding.encode(status: status, fields: fields, with: encoder, into: &headerOutput, memo: &headMemo)
            } else {
                ResponseHeadEncoding.encode(status: nil, fields: fields, with: encoder, into: &headerOutput)
            }
        }
    }

    // MARK: responses

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
        guard hasStreamState else { return }
        streams.forEach { stream in
            if stream.headSent && stream.hasOutputToWrite {
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
        // The lookup reads the stream table at the state's address: a
        // closure that captured the engine would retain it around the call.
        if let cell = inPlaceCell.addressIfMade {
            while budget > 0 && transport.isWritable, let stream = cell.pointee.scheduler.next(lookup: { cell.pointee.streams[$0] }) {
                guard stream.writeData(budget: &budget, frameLimit: frameLimit) else { return }
            }
        }
        // Budget spent with work left: continue next turn.
        if budget <= 0 && hasScheduledStreams { transport.requestWillFlush() }
        armWriteTimerIfNeeded()
    }

    /// Schedules every stream again at `deadline` (or earlier, if the timer
    /// is already set for an earlier hold).
    func armDribbleTimer(at deadline: UInt64) {
        if !timers.isPending(.dribble) { schedule(.dribble, at: deadline) }
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
