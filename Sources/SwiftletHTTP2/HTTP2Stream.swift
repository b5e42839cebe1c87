import SwiftletHTTP
import SwiftletLoop

/// One HTTP/2 stream: a request and its response, as the handler's
/// `HTTPExchange`. Pooled per loop (`HTTP2StreamPool`) and reused for later
/// streams of any connection of that loop.
///
/// Request body: DATA reaches the handler as a view into the receive ring;
/// while the handler is paused the bytes move into `bufferedBody` (pooled
/// blocks), which the stream's flow-control window bounds. Bytes count as
/// consumed, and earn WINDOW_UPDATE credit, when the handler has seen them.
///
/// Response body: queued in `body` (copied small writes, borrowed regions)
/// and moved into the connection's output by the write scheduler as the
/// windows allow, referenced rather than copied.
public final class HTTP2Stream: HTTPExchange {
    /// The engine the stream works for. A stream in use is in its engine's
    /// table and a pooled one is never called, so the back-reference needs
    /// no reference counting; the pool sets it when a stream is taken.
    /// Kept `Unmanaged`: a call through an `unowned(unsafe)` reference
    /// still retains and releases the engine around it, a call inside
    /// `withEngine` does not.
    private var engineReference: Unmanaged<HTTP2Engine>

    var engine: HTTP2Engine {
        get { engineReference.takeUnretainedValue() }
        set { engineReference = Unmanaged.passUnretained(newValue) }
    }

    /// Runs `body` with the engine borrowed (no reference counting).
    @inline(__always)
    func withEngine<Result>(_ body: (HTTP2Engine) -> Result) -> Result {
        engineReference._withUnsafeGuaranteedRef(body)
    }

    var id: UInt32 = 0
    /// Changed only through `apply` and `enter` (and `reset`, which makes
    /// a pooled stream idle again).
    private(set) var state: StreamState = .idle
    public let request = HTTPRequestHead()
    public let responseFields = HTTPFieldList()
    /// `request` and its fields, for the engine's header-block path without
    /// reference counting: loading them from the stream retained them
    /// around each use. Valid as long as the stream (they are its `let`s).
    let requestReference: Unmanaged<HTTPRequestHead>
    let requestFieldsReference: Unmanaged<HTTPFieldList>
    var contextStorage: AnyObject?
    public var context: AnyObject? {
        get { contextStorage }
        set { contextStorage = newValue }
    }

    // Receiving.
    /// The stream's receive window (initial, then raised once the handler reads).
    var inbound = InboundWindow(0)
    /// The handler paused body delivery (`pauseRequestBody`).
    var bodyPaused = false
    var requestProgress = RequestProgress.receiving
    let bufferedBody: SendQueue
    var trailers: HTTPFieldList?
    /// Request trailers as received (distinct from response trailers, so a
    /// handler can echo one into the other).
    let requestTrailerStorage = HTTPFieldList(byteCapacity: 256, fieldCapacity: 4)
    var expectedContentLength: Int?
    var receivedBodyBytes = 0

    // Sending.
    var sendWindow = FlowControlWindow(65_535)
    let body: SendQueue
    var responseProgress = ResponseProgress.noHead
    var pendingTrailers: HTTPFieldList?
    let trailerStorage = HTTPFieldList(byteCapacity: 256, fieldCapacity: 4)
    var bodyHighWatermark = 256 * 1024
    var bodySource: (any HTTPBodySource)?
    /// The source produced nothing when last asked; wait for it to say ready.
    var bodySourceWaiting = false
    var wasUnwritable = false

    // For logs.
    var status = 0
    var bodyBytesSent = 0
    var started: UInt64 = 0
    public var responseStatus: Int { status }
    public var responseBodyBytesSent: Int { bodyBytesSent }
    public var startTime: UInt64 { started }

    // Priority (RFC 9218).
    enum PrioritySource: Int, Comparable {
        case none, rfc7540, header, frame, handler
        static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }
    var schedulingPriority = HTTPPriority.default
    var prioritySource = PrioritySource.none
    var scheduleEpoch: UInt32 = 0

    // Bookkeeping.
    var isScheduled = false
    var closeNotified = false
    var handlerStarted = false
    /// Window dribble: tiny DATA frames held back and counted.
    var dribble = WindowDribble()

    init(engine: HTTP2Engine, pool: BufferPool) {
        engineReference = Unmanaged.passUnretained(engine)
        requestReference = Unmanaged.passUnretained(request)
        requestFieldsReference = Unmanaged.passUnretained(request.fields)
        bufferedBody = SendQueue(pool: pool)
        body = SendQueue(pool: pool)
    }

    /// Ready for another stream id.
    func reset(id: UInt32) {
        self.id = id
        state = .idle
        request.reset()
        responseFields.removeAll()
        // References are cleared only when set: storing nil over nil still
        // calls swift_release, and most streams never set these.
        if contextStorage != nil { contextStorage = nil }
        inbound = InboundWindow(0)
        bodyPaused = false
        bufferedBody.discardAll()
        requestProgress = .receiving
        if trailers != nil { trailers = nil }
        expectedContentLength = nil
        receivedBodyBytes = 0
        body.discardAll()
        responseProgress = .noHead
        if pendingTrailers != nil { pendingTrailers = nil }
        if bodySource != nil { bodySource = nil }
        bodySourceWaiting = false
        wasUnwritable = false
        isScheduled = false
        schedulingPriority = .default
        prioritySource = .none
        closeNotified = false
        handlerStarted = false
        dribble = WindowDribble()
        status = 0
        bodyBytesSent = 0
    }

    /// Applies a §5.1 event; see `StreamState.apply`.
    ///
    /// The transition runs on a copy, stored back after: a rejection's
    /// reason is formatted inside it, which Swift cannot see through, so
    /// mutating `state` in place would make it check `state`'s exclusivity
    /// at run time on every access.
    func apply(_ event: StreamState.Event) -> StreamState.Transition {
        var next = state
        let transition = next.apply(event)
        state = next
        return transition
    }

    /// Applies an event the state admits (checked with `state.admits`, or
    /// one the caller's guards make certain); asserts otherwise.
    func enter(_ event: StreamState.Event) {
        var next = state
        next.enter(event)
        state = next
    }

    /// Still in the connection's table (its id is cleared when it leaves).
    var isLive: Bool { id != 0 }

    /// The request half is being drained after a complete response
    /// (`beginRequestDrain`).
    var isDrainingRequest: Bool { requestProgress.drainDeadline != nil }
    var requestComplete: Bool { requestProgress.isComplete }
    var headSent: Bool { responseProgress.isHeadSent }
    var endRequested: Bool { responseProgress.isEndRequested }
    /// The scheduler has something to do for this stream: body queued, the
    /// end to write, or a source to pull from.
    var hasOutputToWrite: Bool { !body.isEmpty || endRequested || bodySource != nil }

    /// The handler queued the end of the response.
    func queueEnd() {
        let queued = responseProgress.endQueued()
        assert(queued, "end queued twice")
    }

    // MARK: HTTPExchange

    public var protocolName: StaticString { "h2" }
    public var streamID: UInt32 { id }
    public var remoteAddressDescription: String { engine.transport.remoteAddressDescription }
    public var tlsDescription: (version: String, cipher: String)? { engine.transport.tlsDescription }

    public func pauseRequestBody() {
        guard isUsable() else { return }
        bodyPaused = true
    }

    public func resumeRequestBody() {
        guard isUsable(), bodyPaused else { return }
        bodyPaused = false
        deliverBufferedBody()
    }

    public func sendHead(status: Int, endOfStream: Bool) {
        guard isUsable() else { return }
        writeHead(status: status, endOfStream: endOfStream)
    }

    public func sendBody(copying bytes: UnsafeRawBufferPointer, endOfStream: Bool) {
        guard isUsable(), canQueueBody else { return }
        if endOfStream { bodySource = nil }
        body.append(copying: bytes)
        if endOfStream { queueEnd() }
        withEngine { $0.bodyQueued(self) }
    }

    public func sendBody(borrowing bytes: UnsafeRawBufferPointer, owner: AnyObject?, release: (() -> Void)?, endOfStream: Bool) {
        guard isUsable(), canQueueBody else {
            release?()
            return
        }
        if endOfStream { bodySource = nil }
        body.append(borrowing: bytes, owner: owner, release: release)
        if endOfStream { queueEnd() }
        withEngine { $0.bodyQueued(self) }
    }

    public func sendBody(from source: any HTTPBodySource) {
        guard isUsable(), canQueueBody else { return }
        bodySource = source
        bodySourceWaiting = false
        withEngine { $0.bodyQueued(self) }
    }

    public func bodySourceDidBecomeReady() {
        guard isUsable(), bodySource != nil, bodySourceWaiting else { return }
        bodySourceWaiting = false
        withEngine { $0.schedule(self) }
    }

    public func finish(trailers: HTTPFieldList?) {
        guard isUsable(), canQueueBody else { return }
        bodySource = nil
        if let trailers, !trailers.isEmpty {
            trailerStorage.removeAll()
            for index in 0..<trailers.count {
                let field = trailers[index]
                trailerStorage.append(name: field.name, value: field.value)
            }
            pendingTrailers = trailerStorage
        }
        queueEnd()
        withEngine { $0.bodyQueued(self) }
    }

    public var isWritable: Bool { body.pendingBytes < bodyHighWatermark }
    public var queuedBodyBytes: Int { body.pendingBytes }

    public func cancel() {
        guard isUsable() else { return }
        sendReset(code: .internalError, notify: .reset(errorCode: ErrorCode.internalError.rawValue))
    }

    /// The response's priority; setting it overrides the client's signals
    /// (as h2o lets applications do).
    public var priority: HTTPPriority {
        get { schedulingPriority }
        set { prioritize(newValue, source: .handler) }
    }

    /// Whether the handler may still use this exchange. After
    /// `exchangeDidClose` it may not: streams are pooled, and in release
    /// builds the object may already carry a later request, so a kept handle
    /// would act on someone else's response. Debug builds never recycle
    /// streams and stop here with the offending call.
    @inline(__always)
    private func isUsable(_ function: StaticString = #function) -> Bool {
        guard isLive && !closeNotified else {
            assertionFailure("HTTPExchange.\(function) called after exchangeDidClose: a handler kept a stale exchange")
            return false
        }
        return true
    }

    private var canQueueBody: Bool {
        headSent && !endRequested && state.canSend
    }
}
