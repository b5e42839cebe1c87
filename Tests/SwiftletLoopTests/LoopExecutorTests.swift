import Glibc
import Testing
@testable import SwiftletLoop
import SwiftletTestSupport

/// An actor whose state lives on a loop's thread.
actor LoopCounter {
    let loop: EventLoop
    var count = 0

    init(loop: EventLoop) { self.loop = loop }

    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }

    func increment() -> (count: Int, onLoop: Bool) {
        count += 1
        return (count, loop.inLoop)
    }
}

@Suite("the loop as an executor")
struct LoopExecutorTests {
    @Test("a task preferring the loop runs on it, and resumes on it after awaiting elsewhere", arguments: allBackends)
    func taskPreference(backend: EventLoop.BackendChoice) async throws {
        let harness = try LoopHarness(backend: backend)
        let loop = harness.loop
        let seen = await Task(executorPreference: loop.taskExecutor) { () -> [Bool] in
            var seen = [loop.inLoop]
            await Task.yield()
            seen.append(loop.inLoop)
            seen.append(await Task.detached { loop.inLoop }.value)  // runs off the loop
            seen.append(loop.inLoop)                      // and back
            return seen
        }.value
        #expect(seen == [true, true, false, true])
    }

    @Test("an actor of the loop runs on its thread and is isolated there", arguments: allBackends)
    func actorOnLoop(backend: EventLoop.BackendChoice) async throws {
        let harness = try LoopHarness(backend: backend)
        let counter = LoopCounter(loop: harness.loop)
        let first = await counter.increment()           // from the test's thread
        let second = await Task.detached { await counter.increment() }.value
        #expect(first.count == 1 && first.onLoop)
        #expect(second.count == 2 && second.onLoop)
        // Synchronous code on the loop may enter the actor's isolation.
        let count = try harness.onLoop { _ in counter.assumeIsolated { $0.count } }
        #expect(count == 2)
    }

    @Test("a job started by a callback runs in the same turn, before the flush", arguments: allBackends)
    func sameTurn(backend: EventLoop.BackendChoice) async throws {
        let harness = try LoopHarness(backend: backend)
        let turns = Box<[UInt64]>([])
        try harness.onLoop { loop in
            turns.update { $0.append(loop.turn) }
            Task(executorPreference: loop.taskExecutor) {
                turns.update { $0.append(loop.turn) }
            }
        }
        #expect(try harness.waitUntil { _ in turns.get().count == 2 })
        let seen = turns.get()
        #expect(seen[0] == seen[1])
    }

    @Test("a task that keeps yielding does not starve the loop's other work", arguments: allBackends)
    func yieldingTaskDoesNotStarve(backend: EventLoop.BackendChoice) async throws {
        let harness = try LoopHarness(backend: backend)
        let loop = harness.loop
        let stop = Box(false)
        let rounds = Box(0)
        let limit = 1_000_000
        let spinner = Task(executorPreference: loop.taskExecutor) {
            while !stop.get() && rounds.get() < limit {
                rounds.update { $0 += 1 }
                await Task.yield()
            }
        }
        while rounds.get() == 0 { usleep(100) }  // it is spinning
        // A cross-thread task (like I/O and timers) still gets its turn.
        loop.execute { stop.set(true) }
        await spinner.value
        #expect(rounds.get() < limit)
    }

    @Test("jobs still queued when the loop closes run to their end", arguments: allBackends)
    func jobsRunAtClose(backend: EventLoop.BackendChoice) async throws {
        let harness = try LoopHarness(backend: backend)
        let finished = Box(false)
        try harness.onLoop { loop in
            Task(executorPreference: loop.taskExecutor) {
                // More rounds than one turn runs: the rest run at close.
                for _ in 0..<(2 * EventLoop.maximumJobPasses) { await Task.yield() }
                finished.set(true)
            }
            loop.stop()
        }
        harness.shutdown()
        #expect(finished.get())
    }
}

