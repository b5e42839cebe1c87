import CSwiftletSystem
import Glibc
import Logging

/// One single-threaded event loop: it owns its sockets, timers and buffers,
/// and runs every callback on its thread, to completion.
///
/// A turn of `run()`:
///
///     wait for I/O (io_uring: one io_uring_submit_and_wait_timeout;
///                   epoll: one epoll_wait), bounded by the next timer
///       → handle every ready event (accepts, receives, send completions)
///       → deferred input (connections resumed or cut short for fairness)
///       → expired timers
///       → tasks posted from other threads with `execute(_:)`
///       → Swift concurrency jobs of tasks running on the loop (LoopExecutor.swift)
///       → flush every connection with pending output: one iovec batch each
///         (jobs the flush's callbacks resume run before it ends)
///     repeat until `stop()`
///
/// Thread safety: `execute(_:)` and `stop()` may be called from any thread;
/// everything else belongs to the loop's thread (the thread that created the
/// loop), which debug builds assert. The type is `@unchecked Sendable` only
/// so that those two members can be reached from other threads.
public final class EventLoop: @unchecked Sendable {
    /// Which kernel interface drives the loop.
    public enum BackendChoice: String, Sendable, CaseIterable {
        /// io_uring when the ring can be set up, else epoll.
        case auto
        case uring
        case epoll
    }

    /// The backend a loop actually uses.
    public enum BackendKind: String, Sendable {
        case uring
        case epoll
    }

    public struct Configuration: Sendable {
        public var backend: BackendChoice = .auto
        /// Bytes per receive ring (a power of two, multiple of the page size).
        public var receiveRingSize = 64 * 1024
        /// Idle rings kept for reuse.
        public var maximumPooledRings = 256
        /// Of those, how many always keep their memory; the others give it
        /// back once they have waited a `trimInterval`, and are refilled
        /// page by page when used again (`ReceiveRingPool.trim`).
        public var warmPooledRings = 32
        /// Output batches kept for reuse (io_uring holds one per send in
        /// flight; epoll needs one).
        public var maximumPooledBatches = 256
        /// io_uring: how long a connection that went quiet keeps its (empty)
        /// ring with a `recv` posted, before returning it and polling
        /// instead. Zero returns every empty ring at once. See `UringBackend`.
        public var receiveRingGracePeriod: Duration = .milliseconds(200)
        /// Bytes per pooled send block.
        public var sendBlockSize = 16 * 1024
        /// Idle send blocks kept for reuse.
        public var maximumPooledSendBlocks = 1024
        /// Once this many connections have closed, the loop hands the memory
        /// the allocator keeps free back to the system (`malloc_trim`), at
        /// most once per `trimInterval`, and once more an interval later if
        /// connections kept closing meanwhile (the tail of a burst): without
        /// it, glibc keeps what a burst of connections used (a flood of 5000
        /// connections left ~190 MiB, more with each flood). 0 never trims.
        public var trimAfterClosedConnections = 256
        public var trimInterval: Duration = .seconds(1)
        /// Submission queue entries (io_uring).
        public var uringEntries: UInt32 = 4096
        /// Completions (io_uring) or ready events (epoll) handled per turn;
        /// the rest wait for the next turn, after this one's flush.
        public var maximumCompletionsPerTurn = 256
        /// New connections set up per turn; more accepted ones wait for the
        /// next turns, after this one's flush, so a burst of thousands of
        /// connections does not delay established connections' responses.
        public var maximumAcceptsPerTurn = 16
        /// iovecs in one send.
        public var iovecsPerSend = 64
        /// Bytes one connection may send per flush (fairness between connections).
        public var maximumBytesPerFlush = 1 << 20
        /// Reads one connection may do per event before others get a turn (epoll).
        public var maximumReadsPerEvent = 4
        /// How long a closing connection waits for the peer's FIN.
        public var lingerTimeout: Duration = .seconds(2)
        /// Pause after accept ran out of descriptors or memory.
        public var acceptRetryDelay: Duration = .milliseconds(100)
        /// Timer wheel resolution and size.
        public var timerTick: Duration = .milliseconds(1)
        public var timerSlots = 4096

        public init(backend: BackendChoice = .auto) {
            self.backend = backend
        }
    }

    enum Backend {
        case uring(UringBackend)
        case epoll(EpollBackend)
    }

    public let configuration: Configuration
    public let backendKind: BackendKind
    /// Why `.auto` picked the backend it did (for the start-up log line).
    public let backendReason: String
    var backend: Backend
    let remote: RemoteTaskQueue
    private let owner: pthread_t
    let clock: any LoopClock
    var currentTime: UInt64
    /// The clock reading at the start of the current turn.
    public var now: UInt64 { currentTime }
    public let timers: TimerWheel
    public let ringPool: ReceiveRingPool
    /// Output batches for the connections' sends (`OutputBatch`).
    public let batchPool: OutputBatchPool
    public let bufferPool: BufferPool
    public var logger: Logger
    /// The sources the kernel's tokens name, looked up on every completion.
    /// In a cell, so the lookup costs no run-time exclusivity check (a
    /// stored var would be checked everywhere, because unregistering a
    /// source may release it). Invariant: `IORegistry`'s methods call no
    /// other code, and `unregister` hands the source back to its caller
    /// instead of releasing it inside.
    private let registryCell = UncheckedCell(IORegistry())
    var registry: IORegistry {
        unsafeAddress { registryCell.address }
        unsafeMutableAddress { registryCell.mutableAddress }
    }
    /// The connections this turn visits again: to flush, to call before
    /// flushing, to deliver deferred input to. In a cell for the same
    /// reason as the registry: appending may grow an array (a call Swift
    /// cannot see through), which made every access to a stored list
    /// checked at run time, on every request's output. Invariant:
    /// appending, swapping and emptying the lists run no code that reaches
    /// them (releasing a `Connection` when a walked list is emptied runs
    /// no loop code).
    private struct TurnLists {
        /// Connections queued for a visit, and the list being walked (the
        /// two are swapped when a walk starts, so a visit can queue again).
        struct Visits {
            var queued: [Connection] = []
            var walking: [Connection] = []
            mutating func startWalk() { swap(&queued, &walking) }
        }
        var flush = Visits()
        var willFlush = Visits()
        var service = Visits()
    }
    private let turnListsCell = UncheckedCell(TurnLists())
    private var turnLists: TurnLists {
        unsafeAddress { turnListsCell.address }
        unsafeMutableAddress { turnListsCell.mutableAddress }
    }
    private var taskBatch: [@Sendable () -> Void] = []
    private var remoteJobBatch: [LoopJob] = []
    /// Jobs enqueued on the loop as an executor, run in this turn (see LoopExecutor.swift).
    var jobs: [LoopJob] = []
    private var runningJobs: [LoopJob] = []
    /// The loop as a `TaskExecutor` (`Task(executorPreference:)`).
    public let taskExecutor = LoopTaskExecutor()
    private var parkedConnections: [Connection] = []
    private var closeHandlers: [() -> Void] = []
    private var parkSweep: TimerID?
    private let gracePeriod: UInt64
    var turnCount: UInt64 = 0
    var busyNanoseconds: UInt64 = 0
    /// When the current turn's wait returned.
    private var turnStarted: UInt64 = 0
    /// Time spent in turns after their wait returned (handling events,
    /// timers, tasks, flushing), summed: busy / wall time is the loop's load.
    public var busyTime: Duration { .nanoseconds(Int64(busyNanoseconds)) }
    var receivedByteTotal: UInt64 = 0
    var sentByteTotal: UInt64 = 0
    /// Bytes received from every connection of the loop (wire bytes: TLS
    /// records as they came).
    public var bytesReceived: UInt64 { receivedByteTotal }
    /// Bytes the kernel accepted for sending, from every connection.
    public var bytesSent: UInt64 { sentByteTotal }
    /// Turns completed.
    public var turn: UInt64 { turnCount }
    /// Events (io_uring completions, epoll readiness reports) handled in the current turn.
    var eventsThisTurn = 0
    var emptyTurnCount: UInt64 = 0
    /// Turns in which nothing happened: the wait returned without an event,
    /// and no timer fired, no task ran, no deferred input was delivered. A
    /// loop that waits as it should has a few (its wait bounded by a timer
    /// that a cancel left behind); one that grows with time polls.
    public var emptyTurns: UInt64 { emptyTurnCount }
    private var running = false
    private var closed = false
    var openConnections = 0
    var releasedConnections = 0
    var releasedSinceTrim = 0
    struct AcceptedSocket {
        let fd: Int32
        let listener: Listener
        let peer: SocketAddress?
    }
    private var acceptQueue: [AcceptedSocket] = []
    var acceptsThisTurn = 0
    var trimTimer: TimerID?
    /// Pending `ReceiveRingPool.trim` (`releaseRing`).
    var ringTrimTimer: TimerID?
    var trimCount = 0
    /// Times the loop returned free allocator memory to the system.
    public var memoryTrimCount: Int { trimCount }
    /// Connections open (accepted or connected and not yet closed).
    public var connectionCount: Int { openConnections }
    /// Connections whose descriptors are closed and memory returned.
    public var releasedConnectionCount: Int { releasedConnections }

    /// Creates a loop owned by the calling thread.
    public init(configuration: Configuration = Configuration(), clock: any LoopClock = MonotonicClock(),
                logger: Logger = Logger(label: "swiftlet.loop")) throws {
        self.configuration = configuration
        gracePeriod = configuration.receiveRingGracePeriod.nanoseconds
        self.clock = clock
        self.logger = logger
        owner = pthread_self()
        currentTime = clock.now()
        timers = TimerWheel(now: currentTime, tick: configuration.timerTick, slotCount: configuration.timerSlots)
        ringPool = ReceiveRingPool(ringCapacity: configuration.receiveRingSize, maximumFree: configuration.maximumPooledRings,
                                   maximumWarm: configuration.warmPooledRings)
        batchPool = OutputBatchPool(capacity: configuration.iovecsPerSend, maximumFree: configuration.maximumPooledBatches)
        bufferPool = BufferPool(blockSize: configuration.sendBlockSize, maximumFree: configuration.maximumPooledSendBlocks)
        remote = try RemoteTaskQueue()
        Signals.ignoreBrokenPipe()

        switch configuration.backend {
        case .epoll:
            backend = .epoll(try EpollBackend())
            backendKind = .epoll
            backendReason = "epoll requested"
        case .uring:
            let ring = try UringBackend(entries: configuration.uringEntries)
            backend = .uring(ring)
            backendKind = .uring
            backendReason = "io_uring requested (\(ring.setupDescription))"
        case .auto:
            do {
                let ring = try UringBackend(entries: configuration.uringEntries)
                backend = .uring(ring)
                backendKind = .uring
                backendReason = "io_uring available (\(ring.setupDescription))"
            } catch {
                backend = .epoll(try EpollBackend())
                backendKind = .epoll
                backendReason = "io_uring unavailable (\(error)); using epoll"
            }
        }
        switch backend {
        case .uring(let ring): ring.attach(to: self)
        case .epoll(let epoll): epoll.attach(to: self)
        }
        let (slot, generation) = registry.register(.wakeup)
        switch backend {
        case .uring(let ring): ring.armWakeup(token: IOToken(slot: slot, generation: generation, operation: .read))
        case .epoll(let epoll): try epoll.add(fd: remote.eventFD, events: UInt32(EPOLLIN.rawValue | EPOLLET.rawValue),
                                              token: IOToken(slot: slot, generation: generation, operation: .readiness))
        }
        taskExecutor.attach(self)
        if configuration.backend == .auto {
            logger.info("event loop backend: \(backendKind.rawValue) — \(backendReason)")
        }
    }

    deinit {
        if !closed { closeAllSources() }
    }

    // MARK: thread confinement

    /// Whether the caller runs on this loop's thread.
    public var inLoop: Bool { pthread_equal(pthread_self(), owner) != 0 }

    /// Traps in debug builds when called off the loop's thread.
    @inline(__always)
    public func assertInLoop(file: StaticString = #fileID, line: UInt = #line) {
        assert(inLoop, "loop-confined API used off the loop's thread", file: file, line: line)
    }

    // MARK: cross-thread

    /// Runs `task` on the loop thread during a coming turn. Callable from any
    /// thread; tasks run in the order they were posted.
    public func execute(_ task: @escaping @Sendable () -> Void) {
        remote.post(task)
    }

    /// Makes `run()` return after the current turn. Callable from any thread.
    public func stop() {
        remote.requestStop()
    }

    // MARK: running

    /// Runs turns until `stop()`. Must be called on the thread that created the loop.
    public func run() throws {
        precondition(inLoop, "EventLoop.run() must be called on the thread that created the loop")
        precondition(!running, "EventLoop.run() is already running")
        precondition(!closed, "EventLoop.run() after close()")
        running = true
        defer { running = false }
        while !remote.stopRequested {
            try runTurn()
        }
        remote.clearStop()
    }

    /// One turn (see the type's documentation). `run()` calls it in a loop;
    /// tests may call it directly.
    ///
    /// `maximumWait` (nanoseconds) bounds the wait for I/O; 0 polls. A
    /// driver that interleaves its own work (a fuzzer, a test) uses it.
    public func runTurn(maximumWait: UInt64? = nil) throws {
        assertInLoop()
        adoptQueuedAccepts()
        var timeout = waitTimeout()
        if let maximumWait { timeout = min(timeout ?? maximumWait, maximumWait) }
        if hasAcceptBacklog { timeout = 0 }
        switch backend {
        case .uring(let ring): try ring.waitAndDispatch(timeout: timeout)
        case .epoll(let epoll): try epoll.waitAndDispatch(timeout: timeout)
        }
        currentTime = clock.now()  // again: handling the events took time
        let serviced = !turnLists.service.queued.isEmpty
        runServiceList()
        let fired = timers.advance(to: currentTime)
        var ranTasks = runTasks()
        if runJobs() { ranTasks = true }
        flushDirtyConnections()
        turnCount &+= 1
        busyNanoseconds &+= clock.now() &- turnStarted
        // A turn woken by nothing: no event, no timer, no task, no deferred
        // input. Many of them mean the loop polls for something it should
        // wait for (debug counter; see `emptyTurns`).
        if eventsThisTurn == 0 && fired == 0 && !ranTasks && !serviced && acceptsThisTurn == 0 {
            emptyTurnCount &+= 1
        }
        eventsThisTurn = 0
    }

    /// The backends call this as soon as their wait returns, before they
    /// dispatch a single event: a handler that schedules a timer (a
    /// connection's first-bytes timeout, say) must measure from the time the
    /// event arrived, not from before a wait that may have lasted minutes.
    /// (It once did: the first request after ten idle seconds was timed out
    /// the moment it was accepted.)
    func waitReturned() {
        currentTime = clock.now()
        turnStarted = currentTime
    }

    /// Nanoseconds to wait for I/O: 0 when work is already waiting, until the
    /// next timer otherwise, nil (forever) when nothing is scheduled.
    private func waitTimeout() -> UInt64? {
        if !turnLists.service.queued.isEmpty || !turnLists.flush.queued.isEmpty || !turnLists.willFlush.queued.isEmpty || !jobs.isEmpty
            || remote.hasTasks || remote.stopRequested { return 0 }
        guard let deadline = timers.nextDeadline() else { return nil }
        let current = clock.now()
        return deadline > current ? deadline - current : 0
    }

    private func runTasks() -> Bool {
        guard remote.drain(tasks: &taskBatch, jobs: &remoteJobBatch) else { return false }
        for task in taskBatch { task() }
        taskBatch.removeAll(keepingCapacity: true)
        jobs.append(contentsOf: remoteJobBatch)
        remoteJobBatch.removeAll(keepingCapacity: true)
        return true
    }

    /// Runs the jobs enqueued so far, then those they enqueued, up to
    /// `maximumPasses` rounds: a task that yields in a loop gets a turn
    /// of its own instead of starving I/O. Returns whether any ran.
    @discardableResult
    func runJobs(maximumPasses: Int = EventLoop.maximumJobPasses) -> Bool {
        guard !jobs.isEmpty else { return false }
        var passes = 0
        while !jobs.isEmpty && passes < maximumPasses {
            swap(&jobs, &runningJobs)
            for job in runningJobs { job.run(on: self) }
            jobCount &+= UInt64(runningJobs.count)
            runningJobs.removeAll(keepingCapacity: true)
            passes += 1
        }
        return true
    }

    static let maximumJobPasses = 16
    private var jobCount: UInt64 = 0
    /// Concurrency jobs run so far (each start or resumption of a task's
    /// work on the loop).
    public var jobsRun: UInt64 { jobCount }

    // MARK: flushing

    /// Queues `connection` for this turn's flush if it can write now.
    func markDirty(_ connection: Connection) {
        guard !connection.inFlushList, connection.canFlushNow else { return }
        connection.inFlushList = true
        turnLists.flush.queued.append(connection)
    }

    func scheduleWillFlush(_ connection: Connection) {
        guard !connection.inWillFlushList else { return }
        connection.inWillFlushList = true
        turnLists.willFlush.queued.append(connection)
    }

    private func flushDirtyConnections() {
        // A will-flush callback may resume a task (a handler waiting for its
        // stream to become writable), whose job may queue more output: run
        // both until they settle, a few rounds at most.
        var rounds = 0
        while !turnLists.willFlush.queued.isEmpty && rounds < 4 {
            turnLists.willFlush.startWalk()
            for connection in turnLists.willFlush.walking {
                connection.inWillFlushList = false
                guard connection.isOpen else { continue }
                connection.currentHandler?.connectionWillFlush(connection)
            }
            turnLists.willFlush.walking.removeAll(keepingCapacity: true)
            runJobs()
            rounds += 1
        }
        guard !turnLists.flush.queued.isEmpty else { return }
        turnLists.flush.startWalk()
        for connection in turnLists.flush.walking {
            connection.inFlushList = false
            // One flush per connection per turn: a connection dirtied again
            // by a callback during this pass waits for the next turn.
            if connection.flushedInTurn == turnCount {
                markDirty(connection)
                continue
            }
            guard connection.canFlushNow else { continue }
            connection.flushedInTurn = turnCount
            switch backend {
            case .uring(let ring): ring.send(connection)
            case .epoll(let epoll): epoll.send(connection)
            }
        }
        turnLists.flush.walking.removeAll(keepingCapacity: true)
    }

    // MARK: deferred input

    /// Asks for `connection`'s input to be serviced later in this turn.
    func scheduleService(_ connection: Connection) {
        guard !connection.inServiceList else { return }
        connection.inServiceList = true
        turnLists.service.queued.append(connection)
    }

    private func runServiceList() {
        guard !turnLists.service.queued.isEmpty else { return }
        turnLists.service.startWalk()
        for connection in turnLists.service.walking {
            connection.inServiceList = false
            guard connection.lifecycle != .closed else { continue }
            connection.deliverInput()
            connection.notifyEOFIfDue()
            guard connection.lifecycle != .closed else { continue }
            switch backend {
            case .uring(let ring): ring.updateRead(connection)
            case .epoll(let epoll):
                if connection.readReady && connection.wantsInput {
                    epoll.readAvailable(connection)
                } else {
                    connection.releaseRingIfEmpty()
                }
            }
        }
        turnLists.service.walking.removeAll(keepingCapacity: true)
    }

    // MARK: parked receive rings (io_uring)

    /// Whether `connection` received recently enough to keep its empty ring.
    func isRecentlyActive(_ connection: Connection) -> Bool {
        gracePeriod > 0 && currentTime &- connection.lastReceiveTime < gracePeriod
    }

    /// Notes that `connection` keeps an empty ring with a recv pending.
    func park(_ connection: Connection) {
        guard !connection.parked else { return }
        connection.parked = true
        parkedConnections.append(connection)
        if parkSweep == nil {
            parkSweep = timers.schedule(at: currentTime &+ gracePeriod / 2, target: self, tag: 0)
        }
    }

    /// Returns the rings of connections quiet for the grace period. At most
    /// `maximumCompletionsPerTurn` receives are cancelled per sweep (after a
    /// burst of thousands of connections, one sweep would otherwise fill a
    /// turn); the next sweep then follows at once.
    private func sweepParkedConnections() {
        parkSweep = nil
        guard case .uring(let ring) = backend else { return }
        var kept = 0
        var cancelled = 0
        for index in parkedConnections.indices {
            let connection = parkedConnections[index]
            let stillParked = connection.lifecycle != .closed && connection.receiveInFlight
                && (connection.socketRing?.isEmpty ?? false)
            guard stillParked else {
                connection.parked = false
                continue
            }
            if isRecentlyActive(connection) || cancelled >= configuration.maximumCompletionsPerTurn {
                parkedConnections[kept] = connection
                kept += 1
            } else {
                connection.parked = false
                cancelled += 1
                ring.cancelParkedReceive(connection)
            }
        }
        parkedConnections.removeLast(parkedConnections.count - kept)
        if !parkedConnections.isEmpty {
            let again = cancelled >= configuration.maximumCompletionsPerTurn ? currentTime : currentTime &+ gracePeriod / 2
            parkSweep = timers.schedule(at: again, target: self, tag: 0)
        }
    }

    // MARK: listeners and connections

    /// Listens on `address`. `onAccept` runs for every accepted connection
    /// and must set its handler.
    public func listen(on address: SocketAddress, options: ListenOptions = ListenOptions(),
                       onAccept: @escaping (Connection) -> Void) throws -> Listener {
        assertInLoop()
        let socket = try ListeningSocket.bind(address, options: options)
        return try serve(fd: socket.fd, localAddress: socket.localAddress, onAccept: onAccept)
    }

    /// Accepts on a socket bound elsewhere (`ListeningSocket.bind`, or one
    /// inherited from systemd), through a duplicate of its descriptor: the
    /// caller keeps `socket` and closes it when every loop that shares it
    /// has started listening.
    public func listen(on socket: ListeningSocket, onAccept: @escaping (Connection) -> Void) throws -> Listener {
        assertInLoop()
        return try serve(fd: socket.duplicate(), localAddress: socket.localAddress, onAccept: onAccept)
    }

    private func serve(fd: Int32, localAddress bound: SocketAddress, onAccept: @escaping (Connection) -> Void) throws -> Listener {
        let listener = Listener(loop: self, fd: fd, localAddress: bound, onAccept: onAccept)
        let (slot, generation) = registry.register(.listener(listener))
        listener.slot = slot
        listener.generation = generation
        switch backend {
        case .uring(let ring):
            ring.armAccept(listener)
        case .epoll(let epoll):
            do {
                try epoll.add(fd: fd, events: UInt32(EPOLLIN.rawValue | EPOLLET.rawValue),
                              token: IOToken(slot: slot, generation: generation, operation: .readiness))
            } catch {
                registry.unregister(slot: slot, generation: generation)
                Glibc.close(fd)
                throw error
            }
        }
        return listener
    }

    /// Listens on `host` (numeric or resolvable) and `port` (0: any free port).
    public func listen(host: String, port: UInt16, options: ListenOptions = ListenOptions(),
                       onAccept: @escaping (Connection) -> Void) throws -> Listener {
        try listen(on: SocketAddress.resolve(host: host, port: port), options: options, onAccept: onAccept)
    }

    /// Starts a nonblocking connect; `handler.connectionDidConnect` or
    /// `connectionDidClose(.connectFailed)` follows.
    @discardableResult
    public func connect(to address: SocketAddress, handler: any ConnectionHandler) throws -> Connection {
        assertInLoop()
        let fd = swiftlet_socket_nonblocking(address.family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SystemError.last("socket") }
        let rc = address.withSockAddr { Glibc.connect(fd, $0, $1) }
        if rc != 0 && errno != EINPROGRESS {
            let error = SystemError.last("connect \(address)")
            Glibc.close(fd)
            throw error
        }
        let connection = Connection(loop: self, fd: fd, remoteAddress: address, connecting: true)
        connection.handler = handler
        register(connection)
        switch backend {
        case .uring(let ring): ring.armConnect(connection)
        case .epoll(let epoll): epoll.registerConnection(connection, connecting: true)
        }
        return connection
    }

    private func register(_ connection: Connection) {
        let (slot, generation) = registry.register(.connection(connection))
        connection.slot = slot
        connection.generation = generation
        openConnections += 1
    }

    func adoptAccepted(fd: Int32, listener: Listener, peer: SocketAddress?) {
        guard acceptsThisTurn < configuration.maximumAcceptsPerTurn && acceptQueue.isEmpty else {
            acceptQueue.append(AcceptedSocket(fd: fd, listener: listener, peer: peer))
            return
        }
        acceptsThisTurn += 1
        adoptConnected(fd: fd, configure: listener.onAccept, hasNoDelay: listener.acceptedHaveNoDelay, peer: peer)
    }

    /// Whether accepted sockets wait to be set up (the next wait must not sleep).
    var hasAcceptBacklog: Bool { !acceptQueue.isEmpty }

    /// Sets up the accepted sockets waiting from earlier turns, up to the
    /// per-turn bound.
    private func adoptQueuedAccepts() {
        acceptsThisTurn = 0
        guard !acceptQueue.isEmpty else { return }
        let count = min(acceptQueue.count, configuration.maximumAcceptsPerTurn)
        for index in 0..<count {
            let accepted = acceptQueue[index]
            if accepted.listener.state == .listening {
                adoptConnected(fd: accepted.fd, configure: accepted.listener.onAccept,
                               hasNoDelay: accepted.listener.acceptedHaveNoDelay, peer: accepted.peer)
            } else {
                Glibc.close(accepted.fd)
            }
        }
        acceptQueue.removeFirst(count)
        acceptsThisTurn = count
    }

    /// Serves an already connected stream socket: one end of a
    /// `socketpair(2)`, a socket handed over by systemd or another process.
    /// The loop makes it nonblocking and owns it from now on (closing the
    /// connection closes it). `configure` sets the handler, and may install
    /// a transport, as a listener's accept callback does.
    @discardableResult
    public func adopt(socket fd: Int32, configure: (Connection) -> Void) throws -> Connection {
        assertInLoop()
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else { throw SystemError.last("fcntl O_NONBLOCK") }
        return adoptConnected(fd: fd, configure: configure)
    }

    /// - Parameters:
    ///   - hasNoDelay: the socket has `TCP_NODELAY` already (inherited from
    ///     its listening socket).
    ///   - known: the peer's address, if the accept gave it (epoll's
    ///     `accept4`; io_uring's multishot accept gives none): no
    ///     `getpeername` then.
    @discardableResult
    private func adoptConnected(fd: Int32, configure: (Connection) -> Void, hasNoDelay: Bool = false,
                                peer known: SocketAddress? = nil) -> Connection {
        let peer = known ?? Self.peerAddress(of: fd)
        let isInternet = peer.map { $0.family == AF_INET || $0.family == AF_INET6 } ?? false
        let connection = Connection(loop: self, fd: fd, remoteAddress: peer, connecting: false)
        if isInternet && !hasNoDelay { connection.setNoDelay() }
        register(connection)
        if case .epoll(let epoll) = backend { epoll.registerConnection(connection, connecting: false) }
        configure(connection)
        if connection.lifecycle != .closed { backendUpdateRead(connection) }
        return connection
    }

    /// The address of the socket's peer: TCP, or a Unix socket's (usually
    /// unnamed: it says only "unix", which is what the access log shows).
    static func peerAddress(of fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        return SocketAddress(accepted: storage, length: length, named: named == 0)
    }

    /// A connection reached `closed`: stop its I/O and release what the
    /// kernel no longer uses.
    func connectionClosed(_ connection: Connection) {
        openConnections -= 1
        switch backend {
        case .uring(let ring): ring.close(connection)
        case .epoll(let epoll): epoll.close(connection)
        }
    }

    /// The backend finished with `connection`: free its slot.
    func connectionReleased(_ connection: Connection) {
        guard !connection.released else { return }
        connection.releaseResources()
        registry.unregister(slot: connection.slot, generation: connection.generation)
        releasedConnections += 1
        releasedSinceTrim += 1
        if releasedSinceTrim == configuration.trimAfterClosedConnections && trimTimer == nil { scheduleTrim() }
    }

    /// Gives free memory back one `trimInterval` from now. Connections
    /// released while it waits (the rest of a burst) get one more trim an
    /// interval later, and so on until an interval passes without any, so
    /// the tail of a burst is trimmed too, at most once per interval.
    private func scheduleTrim() {
        let releasedAtSchedule = releasedSinceTrim
        trimTimer = timers.schedule(at: currentTime &+ configuration.trimInterval.nanoseconds) { [unowned self] in
            trimTimer = nil
            let releasedWhileWaiting = releasedSinceTrim > releasedAtSchedule
            releasedSinceTrim = 0
            trimCount += 1
            _ = swiftlet_malloc_trim()
            if releasedWhileWaiting { scheduleTrim() }
        }
    }

    /// Returns a ring to the pool. While the pool holds more warm rings
    /// than it keeps warm, it is trimmed every `trimInterval` of the rings
    /// that waited a whole interval: rings that connections coming and
    /// going keep reusing stay warm, and the rings left over after a burst
    /// give their memory back.
    func releaseRing(_ ring: ReceiveRing) {
        ring.releasedAt = currentTime
        ringPool.release(ring)
        if ringPool.needsTrim && ringTrimTimer == nil { scheduleRingTrim() }
    }

    private func scheduleRingTrim() {
        let interval = configuration.trimInterval.nanoseconds
        ringTrimTimer = timers.schedule(at: currentTime &+ interval) { [unowned self] in
            ringTrimTimer = nil
            ringPool.trim(releasedBefore: currentTime &- interval)
            if ringPool.needsTrim { scheduleRingTrim() }  // rings returned since: look again
        }
    }

    func backendUpdateRead(_ connection: Connection) {
        switch backend {
        case .uring(let ring): ring.updateRead(connection)
        case .epoll(let epoll): epoll.updateRead(connection)
        }
    }

    func backendCloseListener(_ listener: Listener) {
        switch backend {
        case .uring(let ring): ring.closeListener(listener)
        case .epoll(let epoll): epoll.closeListener(listener)
        }
    }

    func backendPauseListener(_ listener: Listener) {
        if case .uring(let ring) = backend { ring.pauseListener(listener) }
    }

    func backendResumeListener(_ listener: Listener) {
        switch backend {
        case .uring(let ring): ring.armAccept(listener)
        case .epoll(let epoll): epoll.acceptAll(listener)
        }
    }

    func listenerReleased(_ listener: Listener) {
        Glibc.close(listener.fd)
        registry.unregister(slot: listener.slot, generation: listener.generation)
        listener.state = .closed
    }

    // MARK: signals

    /// Runs `action` on this loop whenever `signal` arrives (see `SignalWatcher`).
    @discardableResult
    public func onSignal(_ signal: Int32, _ action: @escaping () -> Void) throws -> SignalWatcher {
        assertInLoop()
        let watcher = try SignalWatcher(loop: self, signal: signal, action: action)
        let (slot, generation) = registry.register(.signals(watcher))
        watcher.slot = slot
        watcher.generation = generation
        switch backend {
        case .uring(let ring): ring.armSignal(watcher)
        case .epoll(let epoll):
            try epoll.add(fd: watcher.fd, events: UInt32(EPOLLIN.rawValue | EPOLLET.rawValue),
                          token: IOToken(slot: slot, generation: generation, operation: .readiness))
        }
        return watcher
    }

    func backendCloseSignal(_ watcher: SignalWatcher) {
        switch backend {
        case .uring(let ring): ring.closeSignal(watcher)
        case .epoll:
            Glibc.close(watcher.fd)
            registry.unregister(slot: watcher.slot, generation: watcher.generation)
        }
    }

    func signalReleased(_ watcher: SignalWatcher) {
        Glibc.close(watcher.fd)
        registry.unregister(slot: watcher.slot, generation: watcher.generation)
    }

    // MARK: shutting down

    /// Closes every listener, connection and signal watcher and releases the
    /// backend. Call on the loop thread after `run()` returned; the loop
    /// cannot run again.
    public func close() throws {
        precondition(inLoop && !running)
        guard !closed else { return }
        closeAllSources()
    }

    private func closeAllSources() {
        closed = true
        for accepted in acceptQueue { Glibc.close(accepted.fd) }
        acceptQueue.removeAll()
        for source in registry.allSources {
            switch source {
            case .connection(let connection):
                connection.finishClose(reason: .loopClosed, mode: .immediately)
            case .listener(let listener):
                listener.close()
            case .signals(let watcher):
                watcher.cancel()
            case .wakeup:
                break
            }
        }
        // Let io_uring hand back what it still holds (cancellations), then drop it.
        if case .uring(let ring) = backend {
            ring.drainForShutdown()
        }
        for source in registry.allSources {
            switch source {
            case .connection(let connection): connectionReleased(connection)
            case .listener(let listener): listenerReleased(listener)
            case .signals(let watcher): signalReleased(watcher)
            case .wakeup: break
            }
        }
        switch backend {
        case .uring(let ring): ring.shutdown()
        case .epoll(let epoll): epoll.shutdown()
        }
        // Tasks on the loop learned that their connections closed (their
        // handlers cancel them); let them run to their end (a task that
        // never ends is left after many rounds, not waited for).
        _ = runTasks()
        runJobs(maximumPasses: 64 * EventLoop.maximumJobPasses)
        let handlers = closeHandlers
        closeHandlers.removeAll()
        for handler in handlers { handler() }
    }

    /// Runs `body` on the loop thread when the loop closes, after its
    /// connections were closed (and their handlers told): for work buffered
    /// per loop that must not be lost, such as access-log lines.
    public func whenClosed(_ body: @escaping () -> Void) {
        assertInLoop()
        closeHandlers.append(body)
    }
}

extension EventLoop: TimerTarget {
    public func timerFired(_ id: TimerID, tag: UInt64) {
        if id == parkSweep { sweepParkedConnections() }
    }
}
