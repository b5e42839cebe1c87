import CSwiftletSystem
import Glibc

/// The epoll backend: edge-triggered readiness, nonblocking system calls.
///
/// Every socket is registered once with `EPOLLIN | EPOLLRDHUP | EPOLLET`.
/// Because edges are reported once, each connection remembers whether it may
/// still have unread input (`readReady`, cleared by EAGAIN, by reading EOF,
/// or by a short read unless the edge already reported the peer's FIN)
/// and whether the socket can take more output (`writeReady`, cleared by a
/// short write). `EPOLLOUT` is added to the registration only while output
/// is stuck, and removed when the queue drains.
///
/// Input is read with `read(2)` straight into the receive ring's free span
/// (contiguous thanks to the double mapping), at most
/// `maximumReadsPerEvent` times per connection before others get a turn.
/// Output is the same iovec batch io_uring uses, written with `sendmsg(2)`
/// and `MSG_NOSIGNAL` (a `writev` that cannot raise SIGPIPE).
final class EpollBackend {
    let epollFD: Int32
    private unowned(unsafe) var loop: EventLoop! = nil
    private let events: UnsafeMutablePointer<epoll_event>
    private let eventCapacity = 256
    /// Listeners that reached the per-turn accept bound with more waiting.
    private var acceptBacklog: [Listener] = []

    init() throws {
        let fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { throw SystemError.last("epoll_create1") }
        epollFD = fd
        events = .allocate(capacity: eventCapacity)
        events.initialize(repeating: epoll_event(), count: eventCapacity)
    }

    deinit {
        shutdown()
        events.deallocate()
    }

    func attach(to loop: EventLoop) { self.loop = loop }

    private var isShutDown = false

    func shutdown() {
        guard !isShutDown else { return }
        isShutDown = true
        Glibc.close(epollFD)
    }

    // MARK: registration

    func add(fd: Int32, events: UInt32, token: IOToken) throws {
        var event = epoll_event()
        event.events = events
        event.data.u64 = token.raw
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else { throw SystemError.last("epoll_ctl(ADD)") }
    }

    private func modify(fd: Int32, events: UInt32, token: IOToken) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = token.raw
        _ = epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &event)
    }

    private static let readEvents = UInt32(EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue)
    private static let writeEvent = UInt32(EPOLLOUT.rawValue)

    private func token(_ connection: Connection) -> IOToken {
        IOToken(slot: connection.slot, generation: connection.generation, operation: .readiness)
    }

    func registerConnection(_ connection: Connection, connecting: Bool) {
        // While connecting, EPOLLOUT reports completion.
        connection.writeArmed = connecting
        let events = Self.readEvents | (connecting ? Self.writeEvent : 0)
        do {
            try add(fd: connection.fd, events: events, token: token(connection))
        } catch let error as SystemError {
            connection.didFail(error)
        } catch {}
    }

    private func updateWriteInterest(_ connection: Connection) {
        let wanted = connection.pendingOutputBytes > 0 && !connection.writeReady
        guard wanted != connection.writeArmed else { return }
        connection.writeArmed = wanted
        modify(fd: connection.fd, events: Self.readEvents | (wanted ? Self.writeEvent : 0), token: token(connection))
    }

    // MARK: the turn's wait

    func waitAndDispatch(timeout: UInt64?) throws {
        let milliseconds: Int32
        if let timeout {
            // Round up: waking before the timer is due would spin.
            milliseconds = Int32(min(UInt64(Int32.max), (timeout + 999_999) / 1_000_000))
        } else {
            milliseconds = -1
        }
        // A listener with connections left to accept: do not sleep.
        let wait = acceptBacklog.isEmpty ? milliseconds : 0
        let count = epoll_wait(epollFD, events, Int32(min(eventCapacity, loop.configuration.maximumCompletionsPerTurn)), wait)
        loop.waitReturned()
        if count < 0 {
            if errno == EINTR { return }
            throw SystemError.last("epoll_wait")
        }
        for index in 0..<Int(count) {
            let event = events[index]
            dispatch(token: IOToken(raw: event.data.u64), events: event.events)
        }
        if !acceptBacklog.isEmpty {
            let listeners = acceptBacklog
            acceptBacklog.removeAll(keepingCapacity: true)
            for listener in listeners where listener.state == .listening { acceptAll(listener) }
        }
    }

    private func dispatch(token: IOToken, events: UInt32) {
        loop.eventsThisTurn &+= 1
        guard let source = loop.registry.lookup(token) else { return }
        switch source {
        case .connection(let connection):
            if connection.lifecycle == .connecting {
                guard events & UInt32(EPOLLOUT.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 else { return }
                connection.didConnect(error: socketError(connection.fd))
                guard connection.lifecycle != .closed else { return }
            }
            let readable = UInt32(EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue)
            if events & readable != 0 {
                connection.readReady = true
                // The FIN (or error) was reported on this edge and will not be
                // reported again: read until read() says so, even after a
                // short read.
                if events & UInt32(EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
                    connection.hangupReported = true
                }
                readAvailable(connection)
            }
            if connection.lifecycle != .closed, events & UInt32(EPOLLOUT.rawValue) != 0 {
                connection.writeReady = true
                if connection.pendingOutputBytes == 0 {
                    updateWriteInterest(connection)
                } else {
                    loop.markDirty(connection)
                }
            }
        case .listener(let listener):
            acceptAll(listener)
        case .wakeup:
            loop.remote.acknowledgeWake()
        case .signals(let watcher):
            watcher.drainAndRun()
        }
    }

    // MARK: receiving

    /// Called when reading may have become possible or wanted again. Reading
    /// happens in the loop's service step, never nested in a callback.
    func updateRead(_ connection: Connection) {
        if connection.readReady && connection.wantsInput {
            loop.scheduleService(connection)
        } else {
            connection.releaseRingIfEmpty()
        }
    }

    /// Reads until EAGAIN, a short read, a full ring, or the per-event limit.
    func readAvailable(_ connection: Connection) {
        var reads = 0
        while connection.readReady && connection.wantsInput {
            if reads == loop.configuration.maximumReadsPerEvent {
                loop.scheduleService(connection)  // others first; more later
                break
            }
            guard let ring = connection.ensureSocketRing() else { return }
            let span = ring.writable
            guard span.count > 0 else { break }  // full: the consumer must make room
            let n = read(connection.fd, span.baseAddress, span.count)
            if n > 0 {
                ring.commit(n)
                // A short read drained the socket: the next arrival raises a new
                // edge. Not so for a FIN already reported on an earlier edge.
                if n < span.count && !connection.hangupReported { connection.readReady = false }
                reads += 1
                connection.didReceive(n)
            } else if n == 0 {
                connection.readReady = false
                connection.didReceiveEOF()
            } else {
                let code = errno
                if code == EINTR { continue }
                connection.readReady = false
                if code != EAGAIN && code != EWOULDBLOCK {
                    connection.didFail(SystemError("read", errno: code))
                }
            }
        }
        if connection.lifecycle != .closed { connection.releaseRingIfEmpty() }
    }

    // MARK: sending

    func send(_ connection: Connection) {
        connection.prepareOutgoing()
        // `sendmsg` is done with the batch when it returns: the loop's
        // spare serves every connection in turn.
        let batch = loop.batchPool.take()
        defer { loop.batchPool.give(batch) }
        connection.outgoing.fill(batch, maximumBytes: loop.configuration.maximumBytesPerFlush)
        guard batch.byteCount > 0 else { return }
        while true {
            connection.sendCalls += 1
            let n = sendmsg(connection.fd, batch.preparedMessage(), Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            if n >= 0 {
                if n < batch.byteCount {
                    connection.writeReady = false
                    connection.shortWrites += 1
                }
                connection.didSend(n)
                break
            }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK {
                connection.writeReady = false
                break
            }
            connection.didFail(SystemError("sendmsg", errno: code))
            return
        }
        if connection.lifecycle != .closed { updateWriteInterest(connection) }
    }

    // MARK: closing

    func close(_ connection: Connection) {
        // Closing the descriptor removes it from the epoll set; a stale event
        // for it in this batch fails the registry's generation check.
        loop.connectionReleased(connection)
    }

    // MARK: accepting

    /// Accepts up to `maximumAcceptsPerTurn` connections a turn; a listener
    /// with more waiting (its edge will not be reported again) continues
    /// next turn, after this turn's flush.
    func acceptAll(_ listener: Listener) {
        while listener.state == .listening {
            guard loop.acceptsThisTurn < loop.configuration.maximumAcceptsPerTurn else {
                acceptBacklog.append(listener)
                return
            }
            // The peer's address comes with the socket (no getpeername).
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { swiftlet_accept_nonblocking(listener.fd, $0, &length) }
            }
            if fd >= 0 {
                listener.adopt(fd: fd, peer: SocketAddress(accepted: storage, length: length, named: true))
                continue
            }
            let code = errno
            if code == EAGAIN || code == EWOULDBLOCK { break }
            if !listener.acceptFailed(errno: code) { break }
        }
    }

    func closeListener(_ listener: Listener) {
        loop.listenerReleased(listener)
    }
}
