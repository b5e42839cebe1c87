import CSwiftletSystem
import Glibc
import Logging

/// A thread that owns and runs one `EventLoop`.
///
/// The loop is created on the new thread (io_uring's single-issuer mode ties
/// a ring to the thread that made it), `setUp` runs there before the first
/// turn (create listeners in it), and `stopAndJoin()` ends the loop, closes
/// it and waits for the thread. Several of these on one port with
/// `ListenOptions.reusePort` make a multi-loop server.
public final class EventLoopThread: Sendable {
    public let loop: EventLoop
    private let thread: pthread_t
    private let joined = Locked(false)

    private final class Start: @unchecked Sendable {
        let configuration: EventLoop.Configuration
        let clock: any LoopClock
        let logger: Logger
        let setUp: (@Sendable (EventLoop) throws -> Void)?
        let name: String
        var result: Result<EventLoop, any Error>?
        var ready = sem_t()

        init(configuration: EventLoop.Configuration, clock: any LoopClock, logger: Logger,
             setUp: (@Sendable (EventLoop) throws -> Void)?, name: String) {
            self.configuration = configuration
            self.clock = clock
            self.logger = logger
            self.setUp = setUp
            self.name = name
            sem_init(&ready, 0, 0)
        }

        deinit { sem_destroy(&ready) }
    }

    /// Starts the thread and returns once its loop exists and `setUp` ran.
    /// Errors from creating the loop or from `setUp` are rethrown here.
    public init(configuration: EventLoop.Configuration = .init(), clock: any LoopClock = MonotonicClock(),
                logger: Logger = Logger(label: "swiftlet.loop"), name: String = "swiftlet-loop",
                setUp: (@Sendable (EventLoop) throws -> Void)? = nil) throws {
        let start = Start(configuration: configuration, clock: clock, logger: logger, setUp: setUp, name: name)
        let context = Unmanaged.passRetained(start).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
            swiftlet_set_thread_name(String(start.name.prefix(15)))
            let loop: EventLoop
            do {
                loop = try EventLoop(configuration: start.configuration, clock: start.clock, logger: start.logger)
                try start.setUp?(loop)
                start.result = .success(loop)
            } catch {
                start.result = .failure(error)
                sem_post(&start.ready)
                return nil
            }
            sem_post(&start.ready)
            do {
                try loop.run()
            } catch {
                loop.logger.critical("event loop stopped: \(error)")
            }
            loop.logger.debug("event loop \(start.name) stopped after \(loop.turn) turns, \(loop.emptyTurns) empty turns")
            try? loop.close()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<Start>.fromOpaque(context).release()
            throw SystemError("pthread_create", errno: rc)
        }
        while sem_wait(&start.ready) != 0 && errno == EINTR {}
        switch start.result! {
        case .success(let loop):
            self.loop = loop
            self.thread = thread
        case .failure(let error):
            pthread_join(thread, nil)
            throw error
        }
    }

    /// Stops the loop after its current turn, closes it, and joins the thread.
    /// Safe to call more than once.
    public func stopAndJoin() {
        loop.stop()
        join()
    }

    /// Waits until the loop stopped by itself (someone called `stop()`),
    /// then joins the thread. Safe to call more than once.
    public func join() {
        let first = joined.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        pthread_join(thread, nil)
    }

    deinit {
        stopAndJoin()
    }
}

/// Carries a loop-confined value (an exchange, a connection) to another
/// thread and back: it is `Sendable`, but its value can only be read on its
/// loop, which every read checks (also in release builds).
///
///     let bound = LoopBound(exchange, loop: loop)
///     worker.async {
///         let answer = compute()
///         loop.execute { bound.value.sendHead(status: 200, endOfStream: true) }
///     }
public struct LoopBound<Value>: @unchecked Sendable {
    public let loop: EventLoop
    private let storage: Value

    /// Wraps `value`; must be called on `loop`'s thread.
    public init(_ value: Value, loop: EventLoop) {
        precondition(loop.inLoop, "LoopBound created off its loop")
        self.loop = loop
        storage = value
    }

    /// The value; traps off the loop's thread.
    public var value: Value {
        precondition(loop.inLoop, "LoopBound value read off its loop")
        return storage
    }
}
