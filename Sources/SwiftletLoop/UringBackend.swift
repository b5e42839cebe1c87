import CSwiftletSystem
import Glibc

/// The io_uring backend: one ring per loop, one `io_uring_submit_and_wait_timeout`
/// per turn.
///
/// Receiving. Bytes land in the connection's receive ring by a `recv` posted
/// straight into the ring's free span, never through an intermediate buffer
/// (a provided-buffer ring would need a copy into the connection's ring to
/// keep frames contiguous). Which operation is posted depends on the state:
///
/// - the ring holds unconsumed bytes (a partial frame), or the connection
///   received within `receiveRingGracePeriod`: `recv` into the ring, which
///   the connection keeps while the `recv` is pending. A busy connection
///   thus costs one completion per receive;
/// - the connection is new and has received nothing yet, and the pool has a
///   spare ring: `recv` at once (its first bytes are usually there);
/// - otherwise (idle): the ring goes back to the pool and a buffer-less
///   `POLL_ADD` waits; when it fires, the connection borrows a ring and
///   posts the `recv`.
///
/// A connection that keeps an empty ring with a `recv` pending is "parked";
/// a sweep every half grace period cancels the `recv` of parked connections
/// idle for a whole grace period, so an idle connection holds no receive
/// buffer for longer than about 1.5 × the grace period. With a grace period
/// of zero every empty ring is returned at once (poll first, always).
///
/// Sending. At most one `sendmsg` per connection is in flight, describing the
/// connection's `OutputBatch`; a short send is resumed from where it stopped
/// at the next flush.
///
/// Accepting. One multishot accept per listener, re-armed when the kernel
/// ends it (no `IORING_CQE_F_MORE`), cancelled while accepting is paused.
///
/// Closing. The kernel may still own a connection's ring and send buffers
/// through in-flight operations, so a closed connection cancels them all
/// (ASYNC_CANCEL by fd) and releases its descriptor and memory only when the
/// last completion is back.
final class UringBackend {
    let ring: UnsafeMutablePointer<io_uring>
    let setupFlags: UInt32
    private unowned(unsafe) var loop: EventLoop! = nil
    private let completions: UnsafeMutablePointer<UnsafeMutablePointer<io_uring_cqe>?>
    private let completionCapacity = 256
    private let wakeBuffer: UnsafeMutablePointer<UInt64>
    private var isShutDown = false
    private let moreFlag = swiftlet_cqe_f_more()

    init(entries: UInt32) throws {
        ring = .allocate(capacity: 1)
        ring.initialize(to: io_uring())
        var used: UInt32 = 0
        let wanted = UInt32(IORING_SETUP_SINGLE_ISSUER) | UInt32(IORING_SETUP_DEFER_TASKRUN)
        let rc = swiftlet_uring_init(ring, entries, wanted, &used)
        guard rc == 0 else {
            ring.deallocate()
            throw SystemError("io_uring_queue_init", errno: -rc)
        }
        setupFlags = used
        // Lets io_uring_enter skip the file-table lookup of the ring fd.
        _ = io_uring_register_ring_fd(ring)
        completions = .allocate(capacity: completionCapacity)
        completions.initialize(repeating: nil, count: completionCapacity)
        wakeBuffer = .allocate(capacity: 1)
        wakeBuffer.initialize(to: 0)
    }

    deinit {
        shutdown()
        completions.deallocate()
        wakeBuffer.deallocate()
        ring.deallocate()
    }

    func attach(to loop: EventLoop) { self.loop = loop }

    var setupDescription: String {
        var parts: [String] = []
        if setupFlags & UInt32(IORING_SETUP_SINGLE_ISSUER) != 0 { parts.append("SINGLE_ISSUER") }
        if setupFlags & UInt32(IORING_SETUP_DEFER_TASKRUN) != 0 { parts.append("DEFER_TASKRUN") }
        return parts.isEmpty ? "no setup flags" : parts.joined(separator: "|")
    }

    func shutdown() {
        guard !isShutDown else { return }
        isShutDown = true
        io_uring_queue_exit(ring)
    }

    // MARK: submission

    private func sqe() -> UnsafeMutablePointer<io_uring_sqe> {
        if let entry = io_uring_get_sqe(ring) { return entry }
        // The submission queue is full: hand it to the kernel and retry.
        _ = io_uring_submit(ring)
        guard let entry = io_uring_get_sqe(ring) else {
            fatalError("io_uring submission queue still full after submit")
        }
        return entry
    }

    private func token(_ connection: Connection, _ operation: IOOperation) -> UInt64 {
        IOToken(slot: connection.slot, generation: connection.generation, operation: operation).raw
    }

    // MARK: the turn's wait

    func waitAndDispatch(timeout: UInt64?) throws {
        var cqe: UnsafeMutablePointer<io_uring_cqe>?
        let rc: Int32
        if let timeout {
            var ts = __kernel_timespec(tv_sec: Int64(timeout / 1_000_000_000), tv_nsec: Int64(timeout % 1_000_000_000))
            rc = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, nil)
        } else {
            rc = io_uring_submit_and_wait(ring, 1)
        }
        loop.waitReturned()
        if rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN {
            throw SystemError("io_uring_submit_and_wait", errno: -rc)
        }
        dispatchReady()
    }

    /// Handles the completions in the queue, at most
    /// `maximumCompletionsPerTurn`: a burst (thousands of accepts) is spread
    /// over several turns, each ending with a flush, so established
    /// connections' responses do not wait behind it. What is left makes the
    /// next wait return at once.
    private func dispatchReady() {
        let limit = min(completionCapacity, loop.configuration.maximumCompletionsPerTurn)
        let count = Int(io_uring_peek_batch_cqe(ring, completions, UInt32(limit)))
        for index in 0..<count {
            let entry = completions[index]!.pointee
            dispatch(token: IOToken(raw: entry.user_data), result: entry.res, flags: entry.flags)
        }
        io_uring_cq_advance(ring, UInt32(count))
    }

    private func dispatch(token: IOToken, result: Int32, flags: UInt32) {
        loop.eventsThisTurn &+= 1
        guard let operation = token.operation, operation != .cancel,
              let source = loop.registry.lookup(token) else { return }
        switch source {
        case .connection(let connection):
            switch operation {
            case .receive: completeReceive(connection, result)
            case .poll: completePoll(connection, result)
            case .send: completeSend(connection, result)
            default: break
            }
        case .listener(let listener):
            completeAccept(listener, result: result, more: flags & moreFlag != 0)
        case .wakeup:
            if !isShutDown { armWakeup(token: token) }
        case .signals(let watcher):
            completeSignal(watcher, result: result, token: token)
        }
    }

    // MARK: receiving

    /// Arms the next read operation the connection needs, if any.
    func updateRead(_ connection: Connection) {
        guard connection.lifecycle != .closed, !connection.receiveInFlight, !connection.pollInFlight else { return }
        guard connection.wantsInput else {
            connection.releaseRingIfEmpty()
            return
        }
        let keepRing = connection.socketRing != nil && loop.isRecentlyActive(connection)
        // A new connection's first bytes (an HTTP/2 preface, a TLS
        // ClientHello, a request line) come with or right after its accept:
        // receive at once rather than poll first, with a spare ring of the
        // pool, never a new one (silent connections cost no memory), and
        // only for its first read. A silent one is parked like any other:
        // the sweep cancels its recv, and it polls from then on.
        let fresh = !connection.firstReceivePosted && connection.socketRing == nil && loop.ringPool.freeCount > 0
        connection.firstReceivePosted = true
        if connection.readReady || !(connection.socketRing?.isEmpty ?? true) || keepRing || fresh {
            guard let ring = connection.ensureSocketRing() else { return }
            let span = ring.writable
            guard span.count > 0 else { return }  // full: the consumer must make room
            let entry = sqe()
            io_uring_prep_recv(entry, connection.fd, span.baseAddress, span.count, 0)
            io_uring_sqe_set_data64(entry, token(connection, .receive))
            connection.receiveInFlight = true
            connection.readReady = false
            connection.requestedReceive = span.count
            if ring.isEmpty { loop.park(connection) }
        } else {
            connection.releaseRingIfEmpty()
            let entry = sqe()
            io_uring_prep_poll_add(entry, connection.fd, UInt32(POLLIN))
            io_uring_sqe_set_data64(entry, token(connection, .poll))
            connection.pollInFlight = true
        }
    }

    private func completeReceive(_ connection: Connection, _ result: Int32) {
        connection.receiveInFlight = false
        connection.receiveCancelSubmitted = false
        guard connection.lifecycle != .closed else {
            releaseIfIdle(connection)
            return
        }
        if result > 0 {
            connection.lastReceiveTime = loop.now
            connection.socketRing!.commit(Int(result))
            // A full read suggests more is waiting: read again without polling.
            if Int(result) == connection.requestedReceive { connection.readReady = true }
            connection.didReceive(Int(result))
        } else if result == 0 {
            connection.didReceiveEOF()
        } else if result == -EAGAIN || result == -EINTR || result == -ECANCELED || result == -ENOBUFS {
            // Nothing received; re-arm below.
        } else {
            connection.didFail(SystemError("recv", errno: -result))
        }
        if connection.lifecycle == .closed {
            releaseIfIdle(connection)
        } else {
            updateRead(connection)
        }
    }

    private func completePoll(_ connection: Connection, _ result: Int32) {
        connection.pollInFlight = false
        guard connection.lifecycle != .closed else {
            releaseIfIdle(connection)
            return
        }
        if connection.lifecycle == .connecting {
            connection.didConnect(error: result < 0 ? -result : socketError(connection.fd))
            if connection.lifecycle == .closed { releaseIfIdle(connection) }
            return
        }
        if result < 0 {
            if result != -ECANCELED { connection.didFail(SystemError("poll", errno: -result)) }
        } else {
            connection.readReady = true
        }
        if connection.lifecycle == .closed {
            releaseIfIdle(connection)
        } else {
            updateRead(connection)
        }
    }

    /// Cancels the `recv` a parked connection keeps on its empty ring; its
    /// completion (-ECANCELED, or data if it raced) then re-arms with a poll.
    func cancelParkedReceive(_ connection: Connection) {
        guard connection.receiveInFlight, !connection.receiveCancelSubmitted else { return }
        connection.receiveCancelSubmitted = true
        let entry = sqe()
        io_uring_prep_cancel64(entry, token(connection, .receive), 0)
        io_uring_sqe_set_data64(entry, token(connection, .cancel))
    }

    // MARK: connecting

    func armConnect(_ connection: Connection) {
        let entry = sqe()
        io_uring_prep_poll_add(entry, connection.fd, UInt32(POLLOUT))
        io_uring_sqe_set_data64(entry, token(connection, .poll))
        connection.pollInFlight = true
    }

    // MARK: sending

    func send(_ connection: Connection) {
        connection.prepareOutgoing()
        // The kernel reads the batch until the send completes: the
        // connection holds it till then (`completeSend`).
        let batch = loop.batchPool.take()
        connection.outgoing.fill(batch, maximumBytes: loop.configuration.maximumBytesPerFlush)
        guard batch.byteCount > 0 else {
            loop.batchPool.give(batch)
            return
        }
        let entry = sqe()
        io_uring_prep_sendmsg(entry, connection.fd, batch.preparedMessage(), UInt32(MSG_NOSIGNAL))
        io_uring_sqe_set_data64(entry, token(connection, .send))
        connection.batch = batch
        connection.sendInFlight = true
        connection.sendCalls += 1
        connection.requestedSend = batch.byteCount
    }

    private func completeSend(_ connection: Connection, _ result: Int32) {
        connection.sendInFlight = false
        if let batch = connection.batch {
            connection.batch = nil
            loop.batchPool.give(batch)
        }
        guard connection.lifecycle != .closed else {
            releaseIfIdle(connection)
            return
        }
        if result >= 0 {
            if Int(result) < connection.requestedSend { connection.shortWrites += 1 }
            connection.didSend(Int(result))
        } else if result == -EAGAIN || result == -EINTR {
            loop.markDirty(connection)
        } else {
            connection.didFail(SystemError("sendmsg", errno: -result))
        }
        if connection.lifecycle == .closed { releaseIfIdle(connection) }
    }

    // MARK: closing

    func close(_ connection: Connection) {
        if connection.operationsInFlight {
            if !connection.cancelSubmitted {
                connection.cancelSubmitted = true
                let entry = sqe()
                swiftlet_uring_prep_cancel_fd_all(entry, connection.fd)
                io_uring_sqe_set_data64(entry, token(connection, .cancel))
            }
        } else {
            loop.connectionReleased(connection)
        }
    }

    private func releaseIfIdle(_ connection: Connection) {
        if connection.lifecycle == .closed && !connection.operationsInFlight {
            loop.connectionReleased(connection)
        }
    }

    /// After `close()` cancelled everything: wait (briefly) for the kernel to
    /// return what it holds, so no memory is released under it.
    func drainForShutdown() {
        var rounds = 0
        while rounds < 200 && hasOperationsInFlight() {
            var cqe: UnsafeMutablePointer<io_uring_cqe>?
            var ts = __kernel_timespec(tv_sec: 0, tv_nsec: 10_000_000)
            _ = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, nil)
            dispatchReady()
            rounds += 1
        }
    }

    private func hasOperationsInFlight() -> Bool {
        for source in loop.registry.allSources {
            switch source {
            case .connection(let connection) where connection.operationsInFlight: return true
            case .listener(let listener) where listener.acceptArmed: return true
            case .signals(let watcher) where watcher.readArmed: return true
            default: continue
            }
        }
        return false
    }

    // MARK: accepting

    func armAccept(_ listener: Listener) {
        guard listener.state == .listening, !listener.acceptArmed else { return }
        let entry = sqe()
        io_uring_prep_multishot_accept(entry, listener.fd, nil, nil, Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue))
        io_uring_sqe_set_data64(entry, IOToken(slot: listener.slot, generation: listener.generation, operation: .accept).raw)
        listener.acceptArmed = true
    }

    private func completeAccept(_ listener: Listener, result: Int32, more: Bool) {
        if !more { listener.acceptArmed = false }
        if listener.state == .closing {
            if result >= 0 { Glibc.close(result) }
            if !listener.acceptArmed { loop.listenerReleased(listener) }
            return
        }
        if result >= 0 {
            listener.adopt(fd: result)
        } else if result != -ECANCELED {
            _ = listener.acceptFailed(errno: -result)
        }
        if !listener.acceptArmed && listener.state == .listening { armAccept(listener) }
    }

    func pauseListener(_ listener: Listener) {
        guard listener.acceptArmed else { return }
        cancelAll(fd: listener.fd, slot: listener.slot, generation: listener.generation)
    }

    func closeListener(_ listener: Listener) {
        if listener.acceptArmed {
            cancelAll(fd: listener.fd, slot: listener.slot, generation: listener.generation)
        } else {
            loop.listenerReleased(listener)
        }
    }

    private func cancelAll(fd: Int32, slot: UInt32, generation: UInt32) {
        let entry = sqe()
        swiftlet_uring_prep_cancel_fd_all(entry, fd)
        io_uring_sqe_set_data64(entry, IOToken(slot: slot, generation: generation, operation: .cancel).raw)
    }

    // MARK: wake-ups and signals

    func armWakeup(token: IOToken) {
        let entry = sqe()
        io_uring_prep_read(entry, loop.remote.eventFD, wakeBuffer, 8, 0)
        io_uring_sqe_set_data64(entry, token.raw)
    }

    /// Signals are polled, then read by the loop thread itself: a signalfd
    /// yields the signals pending for the thread that reads it, which must be
    /// the loop's thread, not an io_uring worker.
    func armSignal(_ watcher: SignalWatcher) {
        let entry = sqe()
        io_uring_prep_poll_add(entry, watcher.fd, UInt32(POLLIN))
        io_uring_sqe_set_data64(entry, IOToken(slot: watcher.slot, generation: watcher.generation, operation: .read).raw)
        watcher.readArmed = true
    }

    private func completeSignal(_ watcher: SignalWatcher, result: Int32, token: IOToken) {
        watcher.readArmed = false
        if watcher.closed {
            loop.signalReleased(watcher)
            return
        }
        if result > 0 { watcher.drainAndRun() }
        if !watcher.closed && !isShutDown { armSignal(watcher) }
    }

    func closeSignal(_ watcher: SignalWatcher) {
        if watcher.readArmed {
            cancelAll(fd: watcher.fd, slot: watcher.slot, generation: watcher.generation)
        } else {
            loop.signalReleased(watcher)
        }
    }
}

/// `SO_ERROR` of a socket (the result of a nonblocking connect).
func socketError(_ fd: Int32) -> Int32 {
    var error: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    if getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 { return errno }
    return error
}
