import Logging
import SwiftletHPACK
import SwiftletHTTP
import SwiftletLoop

/// The server side of one HTTP/2 connection (RFC 9113), without I/O: bytes
/// in (`receive`), events for an `HTTPHandler`, bytes out through an
/// `HTTP2Transport`, on the transport's clock and timers.
///
/// It orchestrates pure parts, each with its own tests: `FrameDecoder`
/// (bytes → typed frames), `ConnectionState` and `StreamState` (the §5.1
/// machines), `StreamAdmission` (which header blocks open streams),
/// `InboundWindow`/`FlowControlWindow` (§6.9), `DataFrameSizing` and
/// `WindowDribble` (the next DATA frame), `AbuseGuard` (the flood limits),
/// `StreamTable`, `RequestValidator` (§8), HPACK, `ConnectionTimers` and the
/// `WriteScheduler` (RFC 9218). What concerns one stream is the stream's
/// (`HTTP2Stream+Request.swift`, `+Response.swift`, `+Lifecycle.swift`); the engine
/// keeps the connection's part. `HTTP2Connection` runs it on a loop
/// connection; `MemoryTransport` runs it in memory.
///
/// Loop-confined (or confined to whichever thread drives its transport).
public final class HTTP2Engine {
    /// Where output goes. Held strongly: a loop `Connection` clears its
    /// handler (which owns the engine) after `connectionDidClose`, which
    /// breaks the cycle; a `MemoryTransport` holds nothing of the engine.
    let transport: any HTTP2Transport
    let handler: any HTTPHandler
    let configuration: HTTP2Configuration
    /// The configuration's limits (read in place: a copy would add the
    /// whole `Limits` value, a few hundred bytes, to every connection).
    var limits: Limits {
        @inline(__always) _read { yield configuration.limits }
    }
    let counters: HTTP2Counters
    var logger: Logger

    var state: ConnectionState = .awaitingPreface
    var peer = PeerSettings()
    /// The peer acknowledged our SETTINGS (our HPACK table size applies).
    var settingsAcknowledgedByPeer = false
    /// The smallest SETTINGS_HEADER_TABLE_SIZE the peer sent before the
    /// encoder was made, which replays it (RFC 7541 §4.2).
    var smallestPeerTableSizeBeforeEncoder: UInt32?

    /// What the per-request path mutates in place, in one cell, which
    /// spares it Swift's run-time exclusivity checks (and is one allocation
    /// per connection). It is made when the connection first needs it,
    /// usually at its first HEADERS: a connection that never opens a stream
    /// holds one word instead (`hasStreamState`), and no HPACK state either
    /// (the coders are made with it and catch up on the SETTINGS they
    /// missed: `makeInPlace`). Invariant: the mutating
    /// methods of these values never call a handler or the transport, nor
    /// anything else that could reach the cell (the one closure, the
    /// scheduler's `lookup`, reads the stream table, a different field), so
    /// no two accesses to one field overlap.
    struct InPlace {
        /// The HPACK coders (RFC 7541 §2.2: one context per direction),
        /// owned here and reached through the unretained references below
        /// (`withDecoder`, `withEncoder`), which cost no reference counting.
        let decoder: HPACKDecoder
        let encoder: HPACKEncoder
        let decoderReference: Unmanaged<HPACKDecoder>
        let encoderReference: Unmanaged<HPACKEncoder>
        var streams = StreamTable<HTTP2Stream>(capacity: 8)  // doubles as a connection uses more
        var recentlyClosed = RecentlyClosedStreams()
        /// Streams opened by the read being processed, started after it.
        var pendingStarts: [HTTP2Stream] = []
        var scheduler = WriteScheduler<HTTP2Stream>()
        /// Which priority signals count, and PRIORITY_UPDATEs waiting for their stream.
        var priorities: PrioritySignals
        /// Response heads kept to be replayed, one per file (`ResponseHeadMemo`).
        var headMemo = ResponseHeadMemo()
        /// A header block arriving in HEADERS and CONTINUATION frames. Here
        /// rather than a stored property of the engine: its checks format
        /// their reasons (calls Swift cannot see into) inside the access,
        /// which made every access to it, one per frame, checked at run
        /// time. Its methods call no engine code; a completed block is read
        /// in place while `processHeaderBlock` runs, which never touches it.
        var headerBlock = HeaderBlockAssembly()
    }
    var inPlaceCell = LazyUncheckedCell<InPlace>()
    var inPlace: UnsafeMutablePointer<InPlace> {
        @inline(__always) get { inPlaceCell.addressIfMade ?? makeInPlace() }
    }
    @inline(never)
    private func makeInPlace() -> UnsafeMutablePointer<InPlace> {
        let decoder = HPACKDecoder(headerTableSize: limits.headerTableSize,
                                   limits: HPACKDecoderLimits(maximumHeaderListSize: limits.maxHeaderListSize,
                                                              maximumStringLength: limits.maxHeaderListSize,
                                                              maximumFieldCount: limits.maxHeaderFieldCount),
                                   scratch: streamPool.hpackScratch)
        if settingsAcknowledgedByPeer { decoder.headerTableSizeAcknowledged(limits.headerTableSize) }
        let encoder = HPACKEncoder(maximumTableSize: 4096)
        if let smallest = smallestPeerTableSizeBeforeEncoder {
            // What `handleSettings` would have done: the smallest size, then the final one.
            encoder.setPeerHeaderTableSize(Int(smallest))
            encoder.setPeerHeaderTableSize(Int(peer.headerTableSize))
            smallestPeerTableSizeBeforeEncoder = nil
        }
        let made = LazyUncheckedCell.allocate(InPlace(decoder: decoder, encoder: encoder,
                                                      decoderReference: Unmanaged.passUnretained(decoder),
                                                      encoderReference: Unmanaged.passUnretained(encoder),
                                                      priorities: PrioritySignals(maxPending: limits.maxPendingPriorityUpdates)))
        return inPlaceCell.adopt(made)
    }
    /// Runs `body` with the connection's HPACK decoder, borrowed.
    @inline(__always)
    func withDecoder<Result>(_ body: (HPACKDecoder) -> Result) -> Result {
        inPlace.pointee.decoderReference._withUnsafeGuaranteedRef(body)
    }
    /// Runs `body` with the connection's HPACK encoder, borrowed.
    @inline(__always)
    func withEncoder<Result>(_ body: (HPACKEncoder) -> Result) -> Result {
        inPlace.pointee.encoderReference._withUnsafeGuaranteedRef(body)
    }
    /// Decodes a header block into `sink`; the error, if it fails.
    @inline(__always)
    func decodeBlock<Sink: HPACKSink>(_ block: UnsafeRawBufferPointer, into sink: inout Sink) -> HPACKError? {
        withDecoder { decoder -> HPACKError? in
            do throws(HPACKError) { try decoder.decode(block, into: &sink) } catch { return error }
            return nil
        }
    }
    /// Whether the stream state and the HPACK coders were made (for tests
    /// and statistics). Paths that only look at that state (is anything
    /// scheduled, is any stream open) check this first, so they do not make it.
    public var hasStreamState: Bool { inPlaceCell.addressIfMade != nil }
    var streams: StreamTable<HTTP2Stream> {
        unsafeAddress { UnsafePointer(inPlace.pointer(to: \.streams)!) }
        unsafeMutableAddress { inPlace.pointer(to: \.streams)! }
    }
    var recentlyClosed: RecentlyClosedStreams {
        unsafeAddress { UnsafePointer(inPlace.pointer(to: \.recentlyClosed)!) }
        unsafeMutableAddress { inPlace.pointer(to: \.recentlyClosed)! }
    }
    var pendingStarts: [HTTP2Stream] {
        unsafeAddress { UnsafePointer(inPlace.pointer(to: \.pendingStarts)!) }
        unsafeMutableAddress { inPlace.pointer(to: \.pendingStarts)! }
    }
    var scheduler: WriteScheduler<HTTP2Stream> {
        unsafeAddress { UnsafePointer(inPlace.pointer(to: \.scheduler)!) }
        unsafeMutableAddress { inPlace.pointer(to: \.scheduler)! }
    }
    var priorities: PrioritySignals {
        unsafeAddress { UnsafePointer(inPlace.pointer(to: \.priorities)!) }
        unsafeMutableAddress { inPlace.pointer(to: \.priorities)! }
    }
    var headMemo: ResponseHeadMemo {
        unsafeAddress { UnsafePointer(inPlace.pointer(to: \.headMemo)!) }
        unsafeMutableAddress { inPlace.pointer(to: \.headMemo)! }
    }
    /// Whether a stream waits to write (false without stream state).
    var hasScheduledStreams: Bool { hasStreamState && !scheduler.isEmpty }
    /// The encoded response head being written: the loop's, in the stream
    /// pool (filled and written in one go, so connections can share it).
    var headerOutput: HPACKOutput {
        unsafeAddress { streamPool.headerOutputCell.address }
        unsafeMutableAddress { streamPool.headerOutputCell.mutableAddress }
    }
    /// Spare streams, shared by the connections of a loop.
    let streamPool: HTTP2StreamPool
    /// Highest stream id the peer used (every lower idle id is implicitly closed).
    var highestStreamID: UInt32 = 0
    var requestCount = 0

    // Flow control (§6.9): the connection windows, ours and the peer's.
    var sendWindow = FlowControlWindow(65_535)
    var inbound = InboundWindow(65_535)

    /// A header block arriving in HEADERS and CONTINUATION frames (in the
    /// stream state, made by the first HEADERS).
    var headerBlock: HeaderBlockAssembly {
        unsafeAddress { UnsafePointer(inPlace.pointer(to: \.headerBlock)!) }
        unsafeMutableAddress { inPlace.pointer(to: \.headerBlock)! }
    }
    /// Whether a header block is being collected (without making the stream state).
    var isCollectingHeaderBlock: Bool { hasStreamState && headerBlock.current != nil }

    // Abuse accounting.
    var abuse: AbuseGuard

    // Timers.
    enum Timer: UInt64, CaseIterable { case preface = 1, settings, headerBlock, idle, write, drain, dribble, requestDrain }
    var timers = ConnectionTimers<Timer>()
    var writeWatchdog: WriteWatchdog
    var readingPausedForOutput = false
    static let drainPingPayload: UInt64 = 0x7377_6966_746c_6574  // "swiftlet"
    /// Release builds pool the streams handlers saw; debug builds do not.
    static let recyclesExchanges: Bool = {
        var recycles = true
        assert({ recycles = false; return true }())
        return recycles
    }()

    /// - Parameter streamPool: spare streams shared with the other
    ///   connections of the loop (a pool of its own if nil).
    public init(transport: any HTTP2Transport, handler: any HTTPHandler, configuration: HTTP2Configuration = HTTP2Configuration(),
                counters: HTTP2Counters = HTTP2Counters(), streamPool: HTTP2StreamPool? = nil,
                logger: Logger = Logger(label: "swiftlet.http2")) {
        self.transport = transport
        self.handler = handler
        self.configuration = configuration
        let streamPool = streamPool ?? HTTP2StreamPool(bufferPool: transport.bufferPool,
                                                       maximum: configuration.limits.maxConcurrentStreams)
        precondition(streamPool.bufferPool === transport.bufferPool,
                     "a stream pool serves the connections of one loop: its buffer pool must be the transport's")
        self.streamPool = streamPool
        self.counters = counters
        self.logger = logger
        abuse = AbuseGuard(limits: configuration.limits, now: transport.now)
        writeWatchdog = WriteWatchdog(timeout: configuration.limits.writeTimeout)
    }

    /// Sends the server preface (SETTINGS) and waits for the client's.
    public func start() {
        counters.connectionCount += 1
        transport.writeHighWatermark = configuration.outputBudgetPerTurn
        transport.writeLowWatermark = configuration.outputBudgetPerTurn / 2
        // "The server connection preface consists of a potentially empty
        // SETTINGS frame that MUST be the first frame the server sends" (§3.4).
        transport.writeSettings(configuration.advertisedSettings)
        schedule(.preface, after: limits.prefaceTimeout)
        schedule(.settings, after: limits.settingsTimeout)
    }

    /// Open streams (0 without stream state, which this does not make).
    public var openStreamCount: Int { hasStreamState ? streams.count : 0 }

    /// Whether the connection is still serving (not failed or closed).
    public var isActive: Bool { state.isReading }

    // MARK: input

    /// Handles the whole frames at the start of `input` and returns how many
    /// bytes it used; the rest (a partial frame) must be offered again with
    /// more. The handlers of streams opened by these bytes start afterwards.
    public func receive(_ input: UnsafeRawBufferPointer) -> Int {
        var offset = 0
        if state == .awaitingPreface {
            switch ConnectionState.matchPreface(input) {
            case .partial:
                return 0
            case .mismatch:
                handle(state.receivedPreface(valid: false))
                return input.count
            case .complete:
                _ = state.receivedPreface(valid: true)
                offset = ConnectionState.preface.count
            }
            cancel(.preface)
            // The connection window opens right after the preface.
            if let increment = inbound.raise(to: limits.connectionWindowSize) {
                transport.writeWindowUpdate(streamID: 0, increment: increment)
            }
        }
        abuse.beginRead(outputDrained: transport.pendingOutputBytes == 0)
        while state.isReading && !readingPausedForOutput {
            let split = FrameDecoder.split(input, at: offset, maxFrameSize: limits.maxFrameSize)
            guard case .frame(let header, let payload, let end) = split else {
                if case .tooLarge(let rejection) = split { connectionError(rejection) }
                break
            }
            offset = end
            handle(handleFrame(header, payload))
            // Stop reading a peer that does not read what we send (CVE-2019-9517).
            if transport.pendingOutputBytes > limits.maxPendingOutput && state.isReading {
                readingPausedForOutput = true
                transport.pauseReading()
            }
        }
        startPendingExchanges()
        armWriteTimerIfNeeded()
        return offset
    }

    /// The transport's output fell below its low watermark.
    public func transportBecameWritable() {
        guard transport.isWritable else { return }
        if readingPausedForOutput && transport.pendingOutputBytes <= limits.maxPendingOutput / 2 {
            readingPausedForOutput = false
            transport.resumeReading()
        }
        if hasScheduledStreams { transport.requestWillFlush() }
    }

    /// The client closed its side: nothing more will arrive; finish what can
    /// be finished and close.
    public func transportReceivedEOF() {
        closeAllStreams(reason: .connectionClosed)
        state.close()
        transport.close(.afterFlush)
    }

    /// The transport closed: every stream ends, every timer stops.
    public func transportClosed() {
        state.close()
        closeAllStreams(reason: .connectionClosed)
        for timer in Timer.allCases { cancel(timer) }
        if hasStreamState { pendingStarts.removeAll() }
    }

    // MARK: results

    /// Acts on what a frame handler decided (§5.4).
    func handle(_ result: FrameResult) {
        switch result {
        case .ok, .ignore:
            break
        case .streamError(let id, let rejection):
            streamError(id, rejection)
        case .connectionError(let rejection):
            connectionError(rejection)
        }
    }

    /// §5.4.2: "An endpoint that detects a stream error sends a RST_STREAM
    /// frame". Resets we send because of the peer draw on the same budget as
    /// the peer's own resets (MadeYouReset, CVE-2025-8671).
    func streamError(_ id: UInt32, _ rejection: Rejection) {
        counters.count(rejection)
        counters.streamErrorCount += 1
        if rejection.code == .refusedStream { counters.refusedStreamCount += 1 }
        logger.debug("stream \(id) error \(rejection)")
        if let rejection = abuse.reset(now: clockNow, limits: limits) ?? abuse.glitch(now: clockNow, limits: limits) {
            connectionError(rejection)
            return
        }
        if let stream = streams[id] {
            stream.sendReset(code: rejection.code, notify: .reset(errorCode: rejection.code.rawValue))
        } else {
            transport.writeRstStream(streamID: id, code: rejection.code)
            recentlyClosed.record(id, .localReset)
        }
    }

    /// §5.4.1: "An endpoint that encounters a connection error SHOULD first
    /// send a GOAWAY frame ... After sending the GOAWAY frame for an error
    /// condition, the endpoint MUST close the TCP connection."
    func connectionError(_ rejection: Rejection) {
        guard state.isReading else { return }
        counters.count(rejection)
        counters.connectionErrorCount += 1
        logger.debug("connection error \(rejection)")
        state.fail()
        transport.writeGoAway(lastStreamID: highestStreamID, code: rejection.code, debug: rejection.reason)
        closeAllStreams(reason: .connectionClosed)
        transport.close(.afterFlushIgnoringInput)
        // A peer that stops reading cannot hold the connection open.
        armWriteTimerIfNeeded()
    }

    /// A DATA frame the peer's flow-control window cut below
    /// `minDataFrameSize` (window dribble): half the budget spent → graceful
    /// GOAWAY; all of it → ENHANCE_YOUR_CALM (see `AbuseGuard.dribble`).
    func takeDribble() -> Bool {
        switch abuse.dribble(now: clockNow, limits: limits) {
        case .allow:
            return true
        case .allowAndShutDown:
            if state == .active {
                logger.debug("window dribble: graceful GOAWAY")
                beginGracefulShutdown()
            }
            return true
        case .reject(let rejection):
            connectionError(rejection)
            return false
        }
    }

    /// The transport's clock (the loop's once-per-turn reading, or a test's).
    var clockNow: UInt64 { transport.now }

    // MARK: streams

    func makeStream(id: UInt32) -> HTTP2Stream {
        let stream = streamPool.take(for: self) ?? HTTP2Stream(engine: self, pool: transport.bufferPool)
        stream.reset(id: id)
        stream.inbound = InboundWindow(limits.initialStreamWindowSize)
        stream.sendWindow = FlowControlWindow(Int(peer.initialWindowSize))
        stream.bodyHighWatermark = max(configuration.outputBudgetPerTurn, 64 * 1024)
        return stream
    }

    /// Removes a closed stream from the table (the stream closes and tells
    /// its handler: `HTTP2Stream.retire`), returns the credit of request
    /// bytes nobody will read, and recycles the stream.
    func finishStream(_ stream: HTTP2Stream, closedBy: StreamState.ClosedBy, reason: HTTPExchangeCloseReason) {
        let id = stream.id
        guard streams[id] === stream, let removed = streams.remove(id) else { return }
        recentlyClosed.record(id, closedBy)
        let unread = stream.retire(reason: reason)
        if unread > 0 { creditConnection(unread) }
        // A handler saw this stream: in debug builds it is not reused, so a
        // handle kept after exchangeDidClose is caught (HTTP2Stream.isUsable)
        // instead of silently acting on a later request. The pool takes the
        // table's reference.
        if Self.recyclesExchanges || !stream.handlerStarted { streamPool.give(consume removed) }
        if streams.isEmpty { becameIdle() }
    }

    func closeAllStreams(reason: HTTPExchangeCloseReason) {
        guard openStreamCount > 0 || hasScheduledStreams else { return }
        scheduler.removeAll(lookup: { streams[$0] })
        for stream in streams.all {
            finishStream(stream, closedBy: .localReset, reason: reason)
        }
    }

    /// No stream is open: arm the idle timeout, or finish a graceful shutdown.
    func becameIdle() {
        perform(state.lastStreamClosed())
    }

    /// Carries out what a `ConnectionState` transition decided.
    func perform(_ action: ConnectionState.Action) {
        switch action {
        case .none:
            break
        case .announceShutdown:
            transport.writeGoAway(lastStreamID: 0x7FFF_FFFF, code: .noError, debug: "")
            transport.writePing(payload: Self.drainPingPayload, ack: false)
            schedule(.drain, after: configuration.gracefulPingTimeout)
        case .goAway(let lastStreamID, let reason, let thenClose):
            transport.writeGoAway(lastStreamID: lastStreamID, code: .noError, debug: reason)
            if thenClose { transport.close(.afterFlush) }
        case .close:
            transport.close(.afterFlush)
        case .abandonStreams:
            closeAllStreams(reason: .connectionClosed)
            transport.close(.afterFlush)
        case .armIdleTimer:
            schedule(.idle, after: limits.idleTimeout)
        }
    }

    /// Ends the connection with a connection error decided outside the
    /// frame layer (INADEQUATE_SECURITY for a TLS 1.2 cipher suite §9.2.2
    /// prohibits): GOAWAY with the rejection's code and reason, then close.
    public func refuse(_ rejection: Rejection) {
        connectionError(rejection)
    }

    // MARK: graceful shutdown

    /// Starts a graceful shutdown (§6.8): GOAWAY with 2^31-1 and a PING; when
    /// the PING returns (or after a timeout), GOAWAY with the last stream id;
    /// the connection closes once its streams finish.
    public func beginGracefulShutdown() {
        perform(state.beginShutdown())
    }

    func finishGracefulShutdown() {
        cancel(.drain)
        perform(state.finishShutdown(lastStreamID: highestStreamID, streamsOpen: openStreamCount > 0))
    }

    // MARK: timers

    /// Schedules `timer` (replacing a pending one). The wheel is called
    /// outside every access to `timers` (see `ConnectionTimers`).
    func schedule(_ timer: Timer, at deadline: UInt64) {
        let id = transport.timers.schedule(at: deadline, target: self, tag: timer.rawValue)
        if let old = timers.set(timer, id) { transport.timers.cancel(old) }
    }

    func schedule(_ timer: Timer, after delay: Duration) {
        schedule(timer, at: transport.now &+ delay.nanoseconds)
    }

    func cancel(_ timer: Timer) {
        if let id = timers.take(timer) { transport.timers.cancel(id) }
    }

    /// Runs an abuse check whose rejection reason formats a number on a
    /// copy of the guard, stored back after. Formatting calls code Swift
    /// cannot see through; done while `abuse` itself is being mutated, it
    /// would make Swift check `abuse`'s exclusivity at run time on every
    /// access.
    @inline(__always)
    func checkAbuse(_ check: (inout AbuseGuard) -> Rejection?) -> Rejection? {
        var copy = abuse
        let rejection = check(&copy)
        abuse = copy
        return rejection
    }

    /// While output is pending, checks four times per write timeout whether
    /// any of it was written; a full timeout without progress closes
    /// (`WriteWatchdog`).
    func armWriteTimerIfNeeded() {
        // Read, then armed on a copy stored back (here and when the timer
        // fires): a call into another module inside an access to the stored
        // watchdog made every access to it checked at run time.
        guard !writeWatchdog.isArmed, !transport.isClosed else { return }
        var watchdog = writeWatchdog
        let deadline = watchdog.arm(pendingBytes: transport.pendingOutputBytes, bytesSent: transport.bytesSent, now: transport.now)
        writeWatchdog = watchdog
        if let deadline { schedule(.write, at: deadline) }
    }
}

extension HTTP2Engine: TimerTarget {
    public func timerFired(_ id: TimerID, tag: UInt64) {
        switch timers.fired(id, tag: tag) {
        case .preface:
            if state == .awaitingPreface || state == .awaitingSettings {
                connectionError(Rejection(.prefaceTimeout, "no connection preface and SETTINGS within \(limits.prefaceTimeout)"))
                if state != .closed { transport.close(.afterFlush) }
            }
        case .settings:
            // §6.5.3: "If the sender of a SETTINGS frame does not receive an
            // acknowledgment within a reasonable amount of time, it MAY issue a
            // connection error of type SETTINGS_TIMEOUT."
            connectionError(Rejection(.settingsTimeout, "SETTINGS not acknowledged within \(limits.settingsTimeout)"))
        case .headerBlock:
            if isCollectingHeaderBlock {
                connectionError(Rejection(.headerBlockTimeout, "header block not completed within \(limits.headerBlockTimeout)"))
            }
        case .idle:
            let action = state.idleTimedOut(lastStreamID: highestStreamID, streamsOpen: openStreamCount > 0)
            if action != .none { counters.count(.idleTimeout) }
            perform(action)
        case .write:
            // On a copy stored back, as in `armWriteTimerIfNeeded`.
            var watchdog = writeWatchdog
            if transport.isClosed {
                watchdog.disarm()
                writeWatchdog = watchdog
                return
            }
            let verdict = watchdog.check(pendingBytes: transport.pendingOutputBytes, bytesSent: transport.bytesSent, now: transport.now)
            writeWatchdog = watchdog
            switch verdict {
            case .drained:
                break
            case .checkAgain(let deadline):
                schedule(.write, at: deadline)
            case .stalled:
                counters.count(.writeTimeout)
                logger.debug("closing: no write progress for \(limits.writeTimeout)")
                state.close()
                closeAllStreams(reason: .connectionClosed)
                transport.close(.reset)
            }
        case .drain:
            finishGracefulShutdown()
        case .dribble:
            scheduleAllWithBody()
        case .requestDrain:
            requestDrainTimerFired()
        case nil:
            break
        }
    }
}
