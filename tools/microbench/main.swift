// swiftlet-microbench: nanoseconds and heap allocations per operation of the
// hot-path building blocks, in a release build.
//
//   swiftlet-microbench            # the table
//   swiftlet-microbench --check    # also fail if a zero-allocation path allocates
//   swiftlet-microbench --filter timer
//
// Allocation counts come from CAllocationCounter (interposed malloc); times
// from CLOCK_MONOTONIC. Each benchmark warms up first, so the figures are
// steady state. Times are for comparing runs on one machine, not absolutes.
import CAllocationCounter
import Foundation
import SwiftletLoop

struct Benchmark {
    let name: String
    /// Allocations per operation allowed in steady state (nil: report only).
    let allocationBudget: Double?
    /// Runs `count` operations.
    let run: (Int) -> Void
}

final class Sink: TimerTarget {
    var fired = 0
    func timerFired(_ id: TimerID, tag: UInt64) { fired &+= 1 }
}

var benchmarks: [Benchmark] = []

// MARK: loop building blocks

benchmarks.append(Benchmark(name: "timer-wheel schedule+cancel", allocationBudget: 0) { count in
    let wheel = TimerWheel(now: 1_000_000_000)
    let sink = Sink()
    var ids: [TimerID] = []
    ids.reserveCapacity(64)
    var done = 0
    var now: UInt64 = 1_000_000_000
    while done < count {
        for index in 0..<64 { ids.append(wheel.schedule(at: now + UInt64(index) * 1_000_000, target: sink)) }
        for id in ids { wheel.cancel(id) }
        ids.removeAll(keepingCapacity: true)
        now += 1_000_000
        wheel.advance(to: now)
        done += 64
    }
})

benchmarks.append(Benchmark(name: "timer-wheel schedule+fire", allocationBudget: 0) { count in
    let wheel = TimerWheel(now: 1_000_000_000)
    let sink = Sink()
    var now: UInt64 = 1_000_000_000
    var done = 0
    while done < count {
        for index in 0..<64 { wheel.schedule(at: now + UInt64(index % 8) * 1_000_000, target: sink) }
        now += 10_000_000
        wheel.advance(to: now)
        done += 64
    }
})

benchmarks.append(Benchmark(name: "send-queue 64-byte write+flush", allocationBudget: 0) { count in
    let pool = BufferPool(blockSize: 16384, maximumFree: 16)
    let queue = SendQueue(pool: pool)
    let batch = OutputBatch(capacity: 64)
    let message = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
    defer { message.deallocate() }
    for _ in 0..<count {
        queue.append(copying: UnsafeRawBufferPointer(message))
        queue.fill(batch)
        queue.advance(by: batch.byteCount)
    }
})

final class Owner {}

benchmarks.append(Benchmark(name: "send-queue borrowed 16 KiB write+flush", allocationBudget: 0) { count in
    let pool = BufferPool(blockSize: 16384, maximumFree: 16)
    let queue = SendQueue(pool: pool)
    let batch = OutputBatch(capacity: 64)
    let region = UnsafeMutableRawBufferPointer.allocate(byteCount: 16384, alignment: 64)
    defer { region.deallocate() }
    let owner = Owner()
    for _ in 0..<count {
        queue.append(borrowing: UnsafeRawBufferPointer(region), owner: owner)
        queue.fill(batch)
        queue.advance(by: batch.byteCount)
    }
})

benchmarks.append(Benchmark(name: "receive-ring pool acquire+release", allocationBudget: 0) { count in
    let pool = ReceiveRingPool(ringCapacity: 65536, maximumFree: 4)
    for _ in 0..<count {
        let ring = try! pool.acquire()
        ring.commit(100)
        pool.release(ring)
    }
})

// MARK: driver

let arguments = CommandLine.arguments.dropFirst()
let check = arguments.contains("--check")
var filter: String?
if let index = arguments.firstIndex(of: "--filter"), arguments.index(after: index) < arguments.endIndex {
    filter = arguments[arguments.index(after: index)]
}
if arguments.contains("--help") {
    print("usage: swiftlet-microbench [--check] [--filter SUBSTRING]")
    exit(0)
}
guard swiftlet_allocation_counter_active() == 1 else {
    print("error: the allocation counter is not active (malloc was not interposed)")
    exit(2)
}

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

var failures: [String] = []
print("benchmark                                   ns/op    allocs/op")
for benchmark in benchmarks where filter.map({ benchmark.name.contains($0) }) ?? true {
    benchmark.run(10_000)  // warm-up: pools, slabs and arrays reach their size
    var count = 10_000
    var elapsed: UInt64 = 0
    var allocations: UInt64 = 0
    // Grow the run until it takes at least 200 ms.
    while true {
        let a0 = swiftlet_allocation_count()
        let t0 = now()
        benchmark.run(count)
        elapsed = now() - t0
        allocations = swiftlet_allocation_count() - a0
        if elapsed >= 200_000_000 || count >= 100_000_000 { break }
        count *= 4
    }
    let perOp = Double(allocations) / Double(count)
    let name = benchmark.name.padding(toLength: 40, withPad: " ", startingAt: 0)
    print(name + String(format: " %8.1f    %9.4f", Double(elapsed) / Double(count), perOp))
    if let budget = benchmark.allocationBudget, perOp > budget + 0.0001 {
        failures.append("\(benchmark.name): \(perOp) allocations per operation, budget \(budget)")
    }
}
if check && !failures.isEmpty {
    for failure in failures { print("FAIL \(failure)") }
    exit(1)
}
