import CSwiftletSystem
import Glibc

/// The one door into a loop from other threads: a multi-producer,
/// single-consumer queue of closures plus an `eventfd` that wakes the loop.
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
            return state.tasks.count == 1
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

    /// Moves the queued tasks into `batch` (which must be empty) and returns
    /// whether any were taken. `batch` and the queue swap storage, so in steady
    /// state neither allocates.
    func drain(into batch: inout [@Sendable () -> Void]) -> Bool {
        state.withLock { state in
            if state.tasks.isEmpty { return false }
            swap(&state.tasks, &batch)
            return true
        }
    }

    var hasTasks: Bool {
        state.withLock { !$0.tasks.isEmpty }
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
