import CSwiftletSystem
import Glibc

/// The one door into a loop from other threads: a multi-producer,
/// single-consumer queue of closures and of Swift concurrency jobs (work of
/// tasks that run on the loop as their executor) plus an `eventfd` that
/// wakes the loop.
///
/// Producers take a short lock to append; the loop swaps the whole batch out
/// under the same lock and runs it without holding it. Only the producer that
/// finds the queue empty writes the eventfd, so a burst of a million posts
/// costs a handful of wake-ups, and no wake-up is lost: the loop drains the
/// queue after each wake, and a post that lands after the drain finds the
/// queue empty again and wakes the loop once more.
final class RemoteTaskQueue: Sendable {
    private struct State {
        var tasks: [@Sendable () -> Void] = []
        var jobs: [LoopJob] = []
        var stopRequested = false
    }

    private let state = Locked(State())
    /// The eventfd the loop watches (nonblocking, close-on-exec).
    let eventFD: Int32

    init() throws {
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else { throw SystemError.last("eventfd") }
        eventFD = fd
    }

    deinit {
        close(eventFD)
    }

    func post(_ task: @escaping @Sendable () -> Void) {
        let wasEmpty = state.withLock { state in
            state.tasks.append(task)
            return state.tasks.count == 1 && state.jobs.isEmpty
        }
        if wasEmpty { wake() }
    }

    func post(_ job: LoopJob) {
        let wasEmpty = state.withLock { state in
            state.jobs.append(job)
            return state.jobs.count == 1 && state.tasks.isEmpty
        }
        if wasEmpty { wake() }
    }

    func requestStop() {
        state.withLock { $0.stopRequested = true }
        wake()
    }

    var stopRequested: Bool {
        state.withLock { $0.stopRequested }
    }

    func clearStop() {
        state.withLock { $0.stopRequested = false }
    }

    /// Moves the queued tasks and jobs into `tasks` and `jobs` (which must
    /// be empty) and returns whether any were taken. The batches and the
    /// queue swap storage, so in steady state neither allocates.
    func drain(tasks: inout [@Sendable () -> Void], jobs: inout [LoopJob]) -> Bool {
        state.withLock { state in
            if state.tasks.isEmpty && state.jobs.isEmpty { return false }
            swap(&state.tasks, &tasks)
            swap(&state.jobs, &jobs)
            return true
        }
    }

    var hasTasks: Bool {
        state.withLock { !$0.tasks.isEmpty || !$0.jobs.isEmpty }
    }

    func wake() {
        var one: UInt64 = 1
        // EAGAIN means the counter is saturated: the loop is awake anyway.
        _ = write(eventFD, &one, 8)
    }

    /// Resets the eventfd counter after a wake-up (epoll backend).
    func acknowledgeWake() {
        var value: UInt64 = 0
        _ = read(eventFD, &value, 8)
    }
}
