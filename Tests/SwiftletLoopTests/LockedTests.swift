import Glibc
import SwiftletLoop
import Testing

@Suite("Locked: a value shared between threads")
struct LockedTests {
    final class Context: @unchecked Sendable {  // only `counter` is shared, and it is Locked
        let counter = Locked(0)
    }

    @Test("increments from four threads are never lost")
    func concurrentIncrements() {
        let context = Context()
        var threads: [pthread_t] = []
        for _ in 0..<4 {
            var thread = pthread_t()
            let raw = Unmanaged.passRetained(context).toOpaque()
            pthread_create(&thread, nil, { raw in
                let context = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
                for _ in 0..<100_000 { context.counter.withLock { $0 += 1 } }
                return nil
            }, raw)
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
        #expect(context.counter.withLock { $0 } == 400_000)
    }

    @Test("withLock returns the body's result and rethrows its error")
    func resultAndError() {
        struct Failure: Error {}
        let locked = Locked([1, 2, 3])
        #expect(locked.withLock { $0.reduce(0, +) } == 6)
        #expect(throws: Failure.self) { try locked.withLock { _ in throw Failure() } }
        #expect(locked.withLock { $0 } == [1, 2, 3])
    }
}
