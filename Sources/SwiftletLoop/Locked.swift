import Glibc

/// A value shared between threads, behind a `pthread_mutex_t`.
///
/// Swiftlet's few cross-thread paths (`EventLoop.execute`, the prefetcher,
/// the access-log writer, server bookkeeping) use this rather than
/// `Synchronization.Mutex`: on Linux that one locks with futexes inside the
/// standard library, which is not built for ThreadSanitizer, so TSan sees
/// no ordering between the threads and reports every guarded access as a
/// race (`make test-tsan` would be all noise). TSan understands pthread
/// mutexes. Uncontended, both cost an atomic compare-and-swap.
public final class Locked<Value>: @unchecked Sendable {  // every access to `value` holds `mutex`
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ value: Value) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        self.value = value
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value while holding the lock.
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
