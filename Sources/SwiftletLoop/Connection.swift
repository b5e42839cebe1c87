import CSwiftletSystem
import Glibc

/// A nonblocking TCP connection driven by one `EventLoop`.
///
/// Input arrives in a `ReceiveRing` borrowed from the loop's pool; the handler
/// reads `input` in place and calls `consume(_:)`. Output is queued in a
/// `SendQueue` and written once per loop turn as one iovec batch.
///
/// Lifecycle (each step happens once):
///
///     connecting ──connected──▶ open ──close(.afterFlush)──▶ draining
///          │                      │                              │ queue empty: shutdown(SHUT_WR)
///          │                      │                              │ (or, after the peer's FIN, close)
///          │                      │                              ▼
///          │                      │                          lingering (read and discard,
///          │                      │                              │ or, ignoring input, wait)
///          │                      │                              │ peer FIN, error or linger timeout
///          ▼                      ▼ error, reset, close(.immediately)
///        closed ◀─────────────────┴──────────────────────────────┘
///
/// On `closed` the handler's `connectionDidClose` runs (exactly once), and the
/// file descriptor, ring and send buffers go back once the kernel has
/// finished every operation still in flight on them.
///
/// Loop-confined: every member must be used on the loop's thread.
public final class Connection {
    enum Lifecycle: Equatable {
        case connecting
        case open
        case draining
        case lingering
        case closed
    }

    /// A loop outlives its connections (closing a loop closes them), so the
    /// back-reference needs no reference counting.
    public unowned(unsafe) let loop: EventLoop
    /// The same reference for the calls made on every write: calling a
    /// method through `unowned(unsafe)` still retains and releases around
    /// the call, `_withUnsafeGuaranteedRef` does not.
    private let loopReference: Unmanaged<EventLoop>
    public let fd: Int32
    /// The peer's address, when known; the client's, once a proxy in front
    /// said whom it forwards (a PROXY protocol header).
    public var remoteAddress: SocketAddress?
    var currentHandler: (any ConnectionHandler)?
    /// Receives this connection's events; cleared after `connectionDidClose`.
    public var handler: (any ConnectionHandler)? {
        get { currentHandler }
        set { currentHandler = newValue }
    }
    /// Any object the owner wants to hang on the connection.
    public var context: AnyObject?

    var slot: UInt32 = 0
    var generation: UInt32 = 0
    var lifecycle: Lifecycle
    /// The plaintext the handler reads.
    var ring: ReceiveRing?
    /// The plaintext the handler writes.
    let sendQueue: SendQueue
    /// With a transport: the wire bytes received (ciphertext) and to send.
    var wireRing: ReceiveRing?
    var wireQueue: SendQueue?
    var transportStorage: (any ConnectionTransport)?
    /// The iovecs of the send in flight (io_uring), from the loop's pool;
    /// nil between sends.
    var batch: OutputBatch?
    var readingPaused = false
    /// Whether input delivery is paused (`pauseReading()`).
    public var isReadingPaused: Bool { readingPaused }
    var eofReceived = false
    var eofNotified = false
    /// Closing with `.afterFlushIgnoringInput`: nothing more is read.
    var ignoresInput = false
    var closeReason: CloseReason?
    var released = false

    var highWatermark = 256 * 1024
    var lowWatermark = 64 * 1024
    var writable = true
    /// Queued output above which `isWritable` turns false.
    public var writeHighWatermark: Int {
        get { highWatermark }
        set { highWatermark = newValue }
    }
    /// Queued output at or below which `isWritable` turns true again.
    public var writeLowWatermark: Int {
        get { lowWatermark }
        set { lowWatermark = newValue }
    }
    /// False while queued output exceeds the high watermark, until it falls
    /// to the low one (`connectionWritabilityDidChange` tells).
    public var isWritable: Bool { writable }

    // Loop bookkeeping.
    var inFlushList = false
    var flushedInTurn: UInt64 = .max
    var inServiceList = false
    var inWillFlushList = false
    var lingerTimer: TimerID?

    // io_uring bookkeeping: operations the kernel still owns.
    var receiveInFlight = false
    var pollInFlight = false
    var sendInFlight = false
    var cancelSubmitted = false
    var operationsInFlight: Bool { receiveInFlight || pollInFlight || sendInFlight }

    // Readiness: epoll's edge-triggered state, and io_uring's "poll said readable".
    var readReady = false
    var writeReady = true
    var writeArmed = false
    /// epoll: an edge reported RDHUP/HUP/ERR; read until EOF or EAGAIN.
    var hangupReported = false
    /// io_uring: when bytes last arrived (loop clock), whether the connection
    /// is in the loop's parked list, and whether its recv is being cancelled.
    var lastReceiveTime: UInt64 = 0
    /// io_uring: the first read was posted (a new connection receives at
    /// once, without a poll first, only then).
    var firstReceivePosted = false
    var parked = false
    var receiveCancelSubmitted = false
    /// io_uring: the lengths of the recv and the send in flight.
    var requestedReceive = 0
    var requestedSend = 0

    var receivedByteCount: UInt64 = 0
    var sentByteCount: UInt64 = 0
    var shortWrites = 0
    var sendCalls = 0
    // Statistics. (Stored properties of hot classes stay internal and are
    // exposed through computed ones: a stored var visible outside the module
    // keeps Swift's dynamic exclusivity checks in release builds.)
    public var bytesReceived: UInt64 { receivedByteCount }
    public var bytesSent: UInt64 { sentByteCount }
    /// Sends that wrote less than their batch (the socket buffer filled).
    public var shortWriteCount: Int { shortWrites }
    /// Send system calls (epoll) or submissions (io_uring) so far.
    public var sendCallCount: Int { sendCalls }

    init(loop: EventLoop, fd: Int32, remoteAddress: SocketAddress?, connecting: Bool) {
        self.loop = loop
        loopReference = Unmanaged.passUnretained(loop)
        self.fd = fd
        self.remoteAddress = remoteAddress
        self.lifecycle = connecting ? .connecting : .open
        self.sendQueue = SendQueue(pool: loop.bufferPool)
    }

    /// Whether the connection can still be written to and read from.
    public var isOpen: Bool { lifecycle == .open || lifecycle == .connecting }
    /// Whether the connection reached `closed` (closing ones are not yet).
    public var isClosed: Bool { lifecycle == .closed }

    // MARK: transport

    /// The transport (TLS) between the socket and the handler, if any.
    public var transport: (any ConnectionTransport)? { transportStorage }

    /// Installs a transport; call before anything was written, from the
    /// accept callback or after a cleartext preamble (a PROXY protocol
    /// header) was read and consumed: bytes received and not consumed are
    /// then the transport's first wire bytes.
    public func install(transport: any ConnectionTransport) {
        loop.assertInLoop()
        precondition(transportStorage == nil && sendQueue.isEmpty, "install a transport before any output")
        // Two chunks to start with: a transport's records are copied in
        // back to back, so they fill a pooled block before they need a
        // second chunk (an idle TLS connection holds 96 bytes, not 192).
        let wire = SendQueue(pool: loop.bufferPool, initialChunks: 2)
        wireQueue = wire
        transportStorage = transport
        transport.attach(wire: wire)
        // The ring the socket receives into (a receive may be in flight into
        // it) becomes the wire ring; plaintext gets a ring of its own.
        if let ring {
            wireRing = ring
            self.ring = nil
            if !ring.isEmpty { redeliverInput() }
        }
    }

    /// Drops `count` wire bytes. A receive into the wire ring may be in
    /// flight (the transport pumped outside a receive completion: input
    /// redelivered, or received before the transport was installed): the
    /// ring then keeps its position, where the kernel is writing.
    private func consumeWire(_ count: Int) {
        guard count > 0, let wireRing else { return }
        wireRing.consume(count, keepingPosition: receiveInFlight && wireRing === socketRing)
    }

    /// The ring the backend receives into.
    var socketRing: ReceiveRing? { transportStorage == nil ? ring : wireRing }

    /// Borrows a ring for the backend to receive into.
    func ensureSocketRing() -> ReceiveRing? {
        guard transportStorage != nil else { return ensureRing() }
        if let wireRing { return wireRing }
        do {
            let acquired = try loop.ringPool.acquire()
            wireRing = acquired
            return acquired
        } catch {
            didFail(SystemError("mmap", errno: ENOMEM))
            return nil
        }
    }

    /// The queue the backend sends: wire bytes with a transport, else plaintext.
    var outgoing: SendQueue { wireQueue ?? sendQueue }

    /// Before a flush: a transport turns queued plaintext into wire bytes.
    func prepareOutgoing() {
        if let transportStorage, !sendQueue.isEmpty { transportStorage.encrypt(sendQueue) }
    }

    /// Turns received wire bytes into plaintext for as long as both allow.
    private func pumpTransport() {
        guard let transport = transportStorage else { return }
        while !(wireRing?.isEmpty ?? true) || transport.hasPendingPlaintext {
            guard let plain = ensureRing() else { return }
            if plain.isFull { break }  // the handler has to consume first
            let event = transport.receive(wireRing?.readable ?? UnsafeRawBufferPointer(start: nil, count: 0), into: plain)
            if event.consumed > 0 { consumeWire(event.consumed) }
            switch event.status {
            case .failed(let reason):
                if wireQueue.map({ !$0.isEmpty }) ?? false {
                    // Let the alert go out before closing.
                    lifecycle = .draining
                    withLoop { $0.markDirty(self) }
                    closeReason = .transportFailed(reason)
                    return
                }
                finishClose(reason: .transportFailed(reason), mode: .immediately)
                return
            case .closed:
                // The handler hears EOF after the plaintext before it
                // (deliverInput calls notifyEOFIfDue once it was delivered).
                if !(wireQueue?.isEmpty ?? true) { withLoop { $0.markDirty(self) } }
                consumeWire(wireRing?.readableCount ?? 0)
                eofReceived = true
                return
            case .ok, .established:
                break
            }
            if event.consumed == 0 && event.produced == 0 { break }
        }
        if !(wireQueue?.isEmpty ?? true) { withLoop { $0.markDirty(self) } }
    }

    // MARK: input

    /// The received bytes not yet consumed, contiguous, in the receive ring.
    /// Valid until `consume(_:)` or the end of the current callback.
    public var input: UnsafeRawBufferPointer {
        ring?.readable ?? UnsafeRawBufferPointer(start: nil, count: 0)
    }

    /// Drops `count` bytes from the front of `input`.
    public func consume(_ count: Int) {
        loop.assertInLoop()
        guard count > 0 else { return }
        guard let ring else { preconditionFailure("consume without input") }
        // Input consumed outside a receive completion (`redeliverInput`) may
        // find a receive into this same ring in flight.
        ring.consume(count, keepingPosition: receiveInFlight && ring === socketRing)
    }

    /// The receive ring itself (for layers that parse in place).
    public var receiveRing: ReceiveRing? { ring }

    /// Stops delivering input; bytes already received stay in the ring and
    /// no more are read while the ring is full.
    public func pauseReading() {
        loop.assertInLoop()
        readingPaused = true
    }

    /// Resumes delivery: buffered bytes are delivered later in this turn.
    public func resumeReading() {
        loop.assertInLoop()
        guard readingPaused else { return }
        readingPaused = false
        withLoop { $0.scheduleService(self) }
    }

    /// Delivers the bytes already in the ring again, later in this turn: for
    /// a handler that stopped consuming them without pausing reading and now
    /// can go on (without it, they would wait for more bytes to arrive).
    public func redeliverInput() {
        loop.assertInLoop()
        guard isOpen, !readingPaused else { return }
        withLoop { $0.scheduleService(self) }
    }

    /// Whether the connection wants bytes from the socket.
    var wantsInput: Bool {
        switch lifecycle {
        case .open: !readingPaused && !eofReceived
        case .draining, .lingering: !eofReceived && !ignoresInput
        case .connecting, .closed: false
        }
    }

    // MARK: output

    /// Bytes queued and not yet written (plaintext and wire bytes).
    public var pendingOutputBytes: Int { sendQueue.pendingBytes + (wireQueue?.pendingBytes ?? 0) }

    /// Copies `bytes` into pooled send buffers.
    public func write(_ bytes: UnsafeRawBufferPointer) {
        loop.assertInLoop()
        guard isOpen, bytes.count > 0 else { return }
        sendQueue.append(copying: bytes)
        didQueueOutput()
    }

    /// Copies `bytes` into pooled send buffers.
    public func write(_ bytes: some Sequence<UInt8>) {
        loop.assertInLoop()
        guard isOpen else { return }
        // Called from other modules this is not specialised: copying byte by
        // byte through the iterator's witness table cost HTTP/1.1 more than
        // half its CPU per request. Contiguous bytes (arrays) go in one copy.
        let copied: Void? = bytes.withContiguousStorageIfAvailable { write(UnsafeRawBufferPointer($0)) }
        if copied != nil { return }
        var batchBytes = bytes.makeIterator()
        var written = 0
        while true {
            let space = sendQueue.ensureAppendSpace(minimum: 1)
            var n = 0
            while n < space.count, let byte = batchBytes.next() {
                space[n] = byte
                n += 1
            }
            sendQueue.commitAppended(n)
            written += n
            if n < space.count { break }
        }
        if written > 0 { didQueueOutput() }
    }

    /// Queues borrowed memory without copying. `owner` is retained until the
    /// bytes are written (or dropped because the connection closed), then
    /// `release` runs.
    public func write(borrowing bytes: UnsafeRawBufferPointer, owner: AnyObject?, release: (() -> Void)? = nil) {
        loop.assertInLoop()
        guard isOpen else {
            release?()
            return
        }
        sendQueue.append(borrowing: bytes, owner: owner, release: release)
        didQueueOutput()
    }

    /// Lets `body` write up to the returned count of bytes straight into
    /// pooled send memory; `minimumCapacity` must not exceed the pool's block
    /// size. Returns what `body` returned.
    @discardableResult
    public func writeInPlace(minimumCapacity: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) -> Int {
        loop.assertInLoop()
        guard isOpen else { return 0 }
        let space = sendQueue.ensureAppendSpace(minimum: minimumCapacity)
        let n = body(space)
        precondition(n >= 0 && n <= space.count)
        sendQueue.commitAppended(n)
        if n > 0 { didQueueOutput() }
        return n
    }

    /// Moves up to `limit` bytes queued in `queue` (which must use this
    /// loop's `bufferPool`) to this connection's output: short regions are
    /// copied, long ones referenced (see `SendQueue.move`). Returns the bytes moved.
    @discardableResult
    public func write(movingFrom queue: SendQueue, upTo limit: Int, copyThreshold: Int) -> Int {
        loop.assertInLoop()
        guard isOpen else { return 0 }
        let moved = queue.move(upTo: limit, into: sendQueue, copyThreshold: copyThreshold)
        if moved > 0 { didQueueOutput() }
        return moved
    }

    /// Asks for `handler.connectionWillFlush` at the end of this turn, just
    /// before output is flushed (once per turn however often it is asked).
    public func requestWillFlush() {
        loop.assertInLoop()
        guard isOpen else { return }
        withLoop { $0.scheduleWillFlush(self) }
    }

    private func didQueueOutput() {
        if writable && pendingOutputBytes > highWatermark { writable = false }
        withLoop { $0.markDirty(self) }
    }

    /// The loop's clock reading for this turn (`EventLoop.now`), without
    /// reference counting.
    public var loopTime: UInt64 { loopReference._withUnsafeGuaranteedRef { $0.now } }

    /// Runs `body` with the loop borrowed (no reference counting).
    @inline(__always)
    private func withLoop<Result>(_ body: (EventLoop) -> Result) -> Result {
        loopReference._withUnsafeGuaranteedRef(body)
    }

    var canFlushNow: Bool {
        (!sendQueue.isEmpty || !(wireQueue?.isEmpty ?? true)) && (lifecycle == .open || lifecycle == .draining)
            && !sendInFlight && writeReady
    }

    // MARK: socket options

    /// Sets `SO_SNDBUF` (the kernel doubles it and applies a minimum).
    public func setSendBufferSize(_ bytes: Int) throws {
        var value = Int32(bytes)
        guard setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw SystemError.last("setsockopt(SO_SNDBUF)")
        }
    }

    /// Sets `SO_RCVBUF`.
    public func setReceiveBufferSize(_ bytes: Int) throws {
        var value = Int32(bytes)
        guard setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw SystemError.last("setsockopt(SO_RCVBUF)")
        }
    }

    // MARK: closing

    /// Closes the connection (see `CloseMode`). Calling it again, or after
    /// the peer closed, does nothing more.
    public func close(_ mode: CloseMode = .afterFlush) {
        loop.assertInLoop()
        switch lifecycle {
        case .closed:
            return
        case .draining, .lingering:
            switch mode {
            case .afterFlush:
                break
            case .afterFlushIgnoringInput:
                ignoresInput = true
            case .immediately, .reset:
                finishClose(reason: closeReasonForLocalClose, mode: mode)
            }
            return
        case .connecting:
            finishClose(reason: .local, mode: .immediately)
        case .open:
            switch mode {
            case .afterFlush, .afterFlushIgnoringInput:
                lifecycle = .draining
                ignoresInput = mode == .afterFlushIgnoringInput
                if let transportStorage {
                    prepareOutgoing()
                    transportStorage.shutdown()
                }
                if pendingOutputBytes == 0 { beginLinger() } else { withLoop { $0.markDirty(self) } }
            case .immediately, .reset:
                finishClose(reason: closeReasonForLocalClose, mode: mode)
            }
        }
    }

    private var closeReasonForLocalClose: CloseReason { eofReceived ? .peerClosed : .local }

    /// All output is written: send FIN and read until the peer's FIN. If
    /// the peer's FIN is already here, closing sends ours (nothing unread
    /// is left to turn it into a reset), so no `shutdown` comes first.
    private func beginLinger() {
        if eofReceived {
            finishClose(reason: closeReasonForLocalClose, mode: .immediately)
            return
        }
        _ = shutdown(fd, Int32(SHUT_WR))
        lifecycle = .lingering
        ring.map { $0.consume($0.readableCount) }
        consumeWire(wireRing?.readableCount ?? 0)
        lingerTimer = loop.timers.schedule(at: loop.now &+ loop.configuration.lingerTimeout.nanoseconds,
                                           target: self, tag: 0)
        loop.backendUpdateRead(self)
    }

    /// The single path to `closed`.
    func finishClose(reason: CloseReason, mode: CloseMode) {
        guard lifecycle != .closed else { return }
        lifecycle = .closed
        closeReason = reason
        if let timer = lingerTimer {
            loop.timers.cancel(timer)
            lingerTimer = nil
        }
        if mode == .reset {
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        }
        writable = false
        loop.connectionClosed(self)
        let handler = currentHandler
        currentHandler = nil
        handler?.connectionDidClose(self, reason: reason)
    }

    /// Returns memory and the descriptor; called by the backend once no
    /// kernel operation refers to them any more.
    func releaseResources() {
        guard !released else { return }
        released = true
        sendQueue.discardAll()
        wireQueue?.discardAll()
        if let ring {
            loop.releaseRing(ring)
            self.ring = nil
        }
        if let wireRing {
            loop.releaseRing(wireRing)
            self.wireRing = nil
        }
        Glibc.close(fd)
    }

    // MARK: events from the backends

    /// `count` new bytes were committed to the ring.
    func didReceive(_ count: Int) {
        receivedByteCount &+= UInt64(count)
        loopReference._withUnsafeGuaranteedRef { $0.receivedByteTotal &+= UInt64(count) }
        switch lifecycle {
        case .open:
            deliverInput()
        case .draining, .lingering:
            ring.map { $0.consume($0.readableCount) }
            consumeWire(wireRing?.readableCount ?? 0)
        case .connecting, .closed:
            break
        }
    }

    func deliverInput() {
        let transported = transportStorage != nil
        // A transport's close_notify is heard after the plaintext before it.
        defer { if transported { notifyEOFIfDue() } }
        if transported && lifecycle == .open && !readingPaused { pumpTransport() }
        guard lifecycle == .open, !readingPaused, let ring, !ring.isEmpty, let handler = currentHandler else { return }
        handler.connectionDidReceive(self)
        // More wire bytes may be waiting for room in the plaintext ring.
        if let transportStorage, lifecycle == .open, !readingPaused,
           !(wireRing?.isEmpty ?? true) || transportStorage.hasPendingPlaintext {
            withLoop { $0.scheduleService(self) }
        }
        if lifecycle == .open, !readingPaused, let ring = self.ring, ring.isFull {
            finishClose(reason: .receiveBufferFull, mode: .immediately)
        }
    }

    func didReceiveEOF() {
        eofReceived = true
        switch lifecycle {
        case .open:
            notifyEOFIfDue()
        case .draining:
            break  // closes once the queue is written
        case .lingering:
            finishClose(reason: closeReasonForLocalClose, mode: .immediately)
        case .connecting, .closed:
            break
        }
    }

    /// Tells the handler about EOF once the bytes before it were delivered.
    func notifyEOFIfDue() {
        guard eofReceived, !eofNotified, lifecycle == .open, !readingPaused else { return }
        // With a transport, wire bytes still to decrypt come before EOF.
        if let transportStorage, !(wireRing?.isEmpty ?? true) || transportStorage.hasPendingPlaintext { return }
        eofNotified = true
        if let handler = currentHandler { handler.connectionDidReceiveEOF(self) } else { close() }
    }

    func didFail(_ error: SystemError) {
        let reason: CloseReason = error.isPeerGone ? .reset : .failed(error)
        finishClose(reason: reason, mode: .immediately)
    }

    /// The kernel wrote `count` bytes.
    func didSend(_ count: Int) {
        sentByteCount &+= UInt64(count)
        loopReference._withUnsafeGuaranteedRef { $0.sentByteTotal &+= UInt64(count) }
        outgoing.advance(by: count)
        if lifecycle == .draining && pendingOutputBytes == 0 {
            if case .transportFailed = closeReason {
                finishClose(reason: closeReason!, mode: .immediately)
                return
            }
            beginLinger()
            return
        }
        if !writable, lifecycle == .open, pendingOutputBytes <= lowWatermark {
            writable = true
            currentHandler?.connectionWritabilityDidChange(self)
        }
        if pendingOutputBytes > 0 { withLoop { $0.markDirty(self) } }
    }

    /// A nonblocking connect finished; `error` is 0 on success.
    func didConnect(error: Int32) {
        guard lifecycle == .connecting else { return }
        if error != 0 {
            finishClose(reason: .connectFailed(SystemError("connect", errno: error)), mode: .immediately)
            return
        }
        lifecycle = .open
        setNoDelay()
        currentHandler?.connectionDidConnect(self)
        if isOpen {
            loop.backendUpdateRead(self)
            if !sendQueue.isEmpty { withLoop { $0.markDirty(self) } }
        }
    }

    func setNoDelay() {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Gives rings back when they hold nothing (an idle connection keeps no buffer).
    func releaseRingIfEmpty() {
        if let ring, ring.isEmpty {
            loop.releaseRing(ring)
            self.ring = nil
        }
        if let wireRing, wireRing.isEmpty {
            loop.releaseRing(wireRing)
            self.wireRing = nil
        }
    }

    /// Borrows a ring from the pool if the connection has none.
    func ensureRing() -> ReceiveRing? {
        if let ring { return ring }
        do {
            let ring = try loop.ringPool.acquire()
            self.ring = ring
            return ring
        } catch let error as SystemError {
            didFail(error)
            return nil
        } catch {
            didFail(SystemError("mmap", errno: ENOMEM))
            return nil
        }
    }
}

extension Connection: TimerTarget {
    public func timerFired(_ id: TimerID, tag: UInt64) {
        guard id == lingerTimer else { return }
        lingerTimer = nil
        if lifecycle == .lingering {
            finishClose(reason: closeReasonForLocalClose, mode: .immediately)
        }
    }
}
