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

@Suite("Completion: a value one thread waits for")
struct CompletionTests {
    @Test("wait returns what another thread fulfilled, whether it came before or after the wait")
    func handoff() {
        let early = Completion<Int>()
        early.fulfill(7)
        #expect(early.wait() == 7)

        let late = Completion<[String]>()
        var thread = pthread_t()
        let raw = Unmanaged.passRetained(late).toOpaque()
        pthread_create(&thread, nil, { raw in
            let completion = Unmanaged<Completion<[String]>>.fromOpaque(raw!).takeRetainedValue()
            usleep(20_000)  // let the main thread block in wait() first
            completion.fulfill(["answer"])
            completion.fulfill(["ignored"])
            return nil
        }, raw)
        #expect(late.wait() == ["answer"])
        pthread_join(thread, nil)
        #expect(late.wait() == ["answer"])
    }

    @Test("a task posted to a loop fulfils it when the loop runs")
    func answeredByTheLoop() throws {
        let loop = try EventLoop()
        let answer = Completion<Int>()
        loop.execute { answer.fulfill(42) }
        for _ in 0..<3 { try loop.runTurn(maximumWait: 0) }
        #expect(answer.wait() == 42)
    }
}
