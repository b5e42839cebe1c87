import Glibc

/// A value one thread produces once and another waits for: how a thread
/// outside a loop asks the loop something (`EventLoop.execute` the
/// question, `wait()` for the answer) without polling. A pthread mutex and
/// condition variable, like `Locked`, so ThreadSanitizer sees the ordering.
public final class Completion<Value>: @unchecked Sendable {  // `value` is guarded by `mutex`
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var value: Value?

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Stores the value and wakes every waiter. Later calls are ignored.
    public func fulfill(_ result: Value) {
        pthread_mutex_lock(mutex)
        if value == nil { value = result }
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Blocks until `fulfill` was called, then returns its value.
    public func wait() -> Value {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while true {
            if let value { return value }
            pthread_cond_wait(condition, mutex)
        }
    }
}
