/// A loop as an executor for Swift concurrency, so async code runs on the
/// loop thread, between its I/O, without locks or thread hops.
///
/// - As a `SerialExecutor` (`loop.asUnownedSerialExecutor()`), a loop
///   isolates actors: an actor whose `unownedExecutor` is its loop's keeps
///   its state on the loop thread, where handlers can reach it with
///   `loop.assumeIsolated`-style checks and no lock (`checkIsolated`).
/// - As a `TaskExecutor` (`loop.taskExecutor`), a loop runs nonisolated
///   async functions of tasks that prefer it (`Task(executorPreference:)`):
///   a request handler written as an `async` function starts on the loop
///   and resumes there after every `await`.
///
/// Jobs enqueued on the loop thread are run in the same turn, after the
/// turn's I/O and before its flush, so a response written by async code
/// leaves in the same batch as one written by a callback. Jobs enqueued from
/// other threads (a continuation resumed by a database client, say) go
/// through the loop's remote queue and wake it, like `execute(_:)`.
extension EventLoop: SerialExecutor {
    public func enqueue(_ job: consuming ExecutorJob) {
        schedule(LoopJob(UnownedJob(job), kind: .serial))
    }

    func schedule(_ job: LoopJob) {
        if inLoop {
            jobs.append(job)
        } else {
            remote.post(job)
        }
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Stops the program when code isolated to the loop runs off its thread
    /// (`assumeIsolated` on an actor of this loop, for example).
    public func checkIsolated() {
        precondition(inLoop, "code isolated to an event loop ran off the loop's thread")
    }
}

/// A loop's face as a `TaskExecutor`: `Task(executorPreference: loop.taskExecutor)`.
/// A separate object because a job enqueued for a task's preference runs
/// without the loop's serial isolation (it may belong to a default actor
/// that only borrows the thread), while one enqueued for an actor of the
/// loop runs isolated to it.
///
/// `@unchecked Sendable`: `loop` is set once, by the loop's initialiser,
/// before the loop is shared with any other thread.
public final class LoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    private unowned(unsafe) var owner: EventLoop?

    init() {}

    func attach(_ loop: EventLoop) { owner = loop }

    /// The loop whose thread runs this executor's jobs.
    public var loop: EventLoop { owner! }

    public func enqueue(_ job: consuming ExecutorJob) {
        loop.schedule(LoopJob(UnownedJob(job), kind: .task))
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }
}

extension EventLoop {
    /// Runs `operation` on this loop for a caller that is not on it (a task
    /// of its own, an actor elsewhere): as a task that prefers the loop's
    /// task executor, cancelled with the caller. How the async APIs built on
    /// loop-confined state stay correct when called from another thread.
    public func hop<T: Sendable>(_ operation: sending @escaping @isolated(any) () async throws -> T) async throws -> T {
        let task = Task(executorPreference: taskExecutor, operation: operation)
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }
}

/// A job waiting in a loop's queue, and which of the loop's executors it
/// was enqueued on.
struct LoopJob: Sendable {
    enum Kind: Sendable { case serial, task }
    let job: UnownedJob
    let kind: Kind

    init(_ job: UnownedJob, kind: Kind) {
        self.job = job
        self.kind = kind
    }

    func run(on loop: EventLoop) {
        switch kind {
        case .serial: job.runSynchronously(on: loop.asUnownedSerialExecutor())
        case .task: job.runSynchronously(on: loop.taskExecutor.asUnownedTaskExecutor())
        }
    }
}
