import CSwiftletSystem
import Glibc
import SwiftletLoop

/// A helper thread that runs jobs one after another, off every loop: the
/// static-file handler's place for work that may block or take long
/// (reading file pages in, compressing a large file). Jobs post their
/// results back to a loop with `EventLoop.execute`.
///
/// The thread lives as long as the process (handlers share one per kind of
/// work), parked on a semaphore while there is nothing to do.
final class WorkerThread: @unchecked Sendable {  // state is a Locked queue and a semaphore
    private let queue = Locked<[@Sendable () -> Void]>([])
    private let semaphore: UnsafeMutablePointer<sem_t>
    private let name: String

    /// `name` is the thread's name in `top -H` and `perf` (15 bytes at most).
    init(name: String) {
        self.name = name
        semaphore = .allocate(capacity: 1)
        sem_init(semaphore, 0, 0)
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        pthread_create(&thread, nil, { raw in
            let worker = Unmanaged<WorkerThread>.fromOpaque(raw!).takeRetainedValue()
            swiftlet_set_thread_name(worker.name)
            worker.work()
            return nil
        }, context)
        pthread_detach(thread)
    }

    /// Runs `job` on the thread after the jobs submitted before it.
    func submit(_ job: @escaping @Sendable () -> Void) {
        queue.withLock { $0.append(job) }
        sem_post(semaphore)
    }

    private func work() {
        while true {
            while sem_wait(semaphore) != 0 && errno == EINTR {}
            guard let job = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
            job()
        }
    }
}
