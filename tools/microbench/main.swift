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
import SwiftletHPACK
import SwiftletLoop

struct Benchmark {
    let name: String
    /// Allocations per operation allowed in steady state (nil: report only).
    let allocationBudget: Double?
    /// A figure derived from the time per operation.
    var derived: Derived? = nil
    /// Runs `count` operations.
    let run: (Int) -> Void
}

enum Derived {
    /// Bytes per operation: prints GB/s.
    case throughput(bytesPerOperation: Double)
    /// Items per operation: prints ns per item.
    case perItem(String, itemsPerOperation: Double)
}

final class Sink: TimerTarget {
    var fired = 0
    func timerFired(_ id: TimerID, tag: UInt64) { fired &+= 1 }
}

var benchmarks: [Benchmark] = []
var benchmarkNotes: [String] = []

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

// MARK: HPACK

/// Counts fields and bytes so the optimiser cannot drop the decoding.
struct CountingSink: HPACKSink {
    var fields = 0
    var bytes = 0
    mutating func field(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, neverIndexed: Bool) {
        fields &+= 1
        bytes &+= name.count &+ value.count
    }
}

/// hpack-test-case stories: $HPACK_TEST_CASE_DIR, else ../shared/hpack-test-case.
func storyDirectory() -> URL? {
    if let path = ProcessInfo.processInfo.environment["HPACK_TEST_CASE_DIR"] { return URL(fileURLWithPath: path) }
    let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let shared = source.deletingLastPathComponent().appendingPathComponent("shared/hpack-test-case")
    return FileManager.default.fileExists(atPath: shared.path) ? shared : nil
}

/// Every story of one encoder as wire blocks, plus its field count.
func loadStories(_ implementation: String) -> (stories: [[[UInt8]]], fields: Int, tableSize: Int)? {
    guard let directory = storyDirectory()?.appendingPathComponent(implementation),
          let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return nil }
    var stories: [[[UInt8]]] = []
    var fields = 0
    var tableSize = 4096
    for name in names.sorted() where name.hasSuffix(".json") {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent(name)),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = json["cases"] as? [[String: Any]] else { continue }
        if cases.contains(where: { ($0["header_table_size"] as? Int).map { $0 != 4096 } ?? false }) { continue }
        var story: [[UInt8]] = []
        for item in cases {
            let wire = Array((item["wire"] as? String ?? "").utf8)
            var block: [UInt8] = []
            var index = 0
            while index + 1 < wire.count {
                block.append(UInt8(String(decoding: wire[index...index + 1], as: UTF8.self), radix: 16)!)
                index += 2
            }
            story.append(block)
            fields += (item["headers"] as? [Any])?.count ?? 0
        }
        stories.append(story)
        tableSize = 4096
    }
    return stories.isEmpty ? nil : (stories, fields, tableSize)
}

/// One operation = one header block, decoded in story order with a table
/// reset at each story's start, so the table evolves as in the story.
///
/// The sink is a local of the closure: a captured `var` would be boxed and
/// checked for exclusive access on every block, and that cost, not the
/// decoder's, would show in the figure.
func hpackDecodeBenchmark(_ label: String, stories: [[[UInt8]]], fields: Int, tableSize: Int = 4096) -> (Benchmark, note: String) {
    let decoder = HPACKDecoder(headerTableSize: tableSize, limits: HPACKDecoderLimits(maximumHeaderListSize: 1 << 20))
    let blocks = stories.reduce(0) { $0 + $1.count }
    let note = "hpack \(label): \(blocks) blocks, \(fields) fields (\(String(format: "%.1f", Double(fields) / Double(blocks))) fields per block)"
    let benchmark = Benchmark(name: "hpack decode \(label) block", allocationBudget: 0,
                              derived: .perItem("field", itemsPerOperation: Double(fields) / Double(blocks))) { count in
        var sink = CountingSink()
        var done = 0
        while done < count {
            for story in stories {
                decoder.reset()
                for block in story {
                    block.withUnsafeBytes { try! decoder.decode($0, into: &sink) }
                    done += 1
                }
            }
        }
        precondition(sink.fields > 0 || count == 0, "the decoder produced no fields")
    }
    return (benchmark, note)
}

for implementation in ["nghttp2", "go-hpack", "python-hpack"] {
    guard let loaded = loadStories(implementation) else { continue }
    let (benchmark, note) = hpackDecodeBenchmark(implementation, stories: loaded.stories, fields: loaded.fields, tableSize: loaded.tableSize)
    benchmarks.append(benchmark)
    benchmarkNotes.append(note)
}

/// The raw-data stories (header lists without wire bytes) encoded by our
/// encoder, Huffman and incremental indexing as a server's peer would send.
func encodeRawDataStories() -> (stories: [[[UInt8]]], fields: Int)? {
    guard let directory = storyDirectory()?.appendingPathComponent("raw-data"),
          let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return nil }
    var stories: [[[UInt8]]] = []
    var fields = 0
    for name in names.sorted() where name.hasSuffix(".json") {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent(name)),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = json["cases"] as? [[String: Any]] else { continue }
        let encoder = HPACKEncoder()
        var story: [[UInt8]] = []
        for item in cases {
            var output = HPACKOutput()
            encoder.beginBlock(into: &output)
            for header in item["headers"] as? [[String: String]] ?? [] {
                for (name, value) in header {
                    Array(name.utf8).withUnsafeBytes { n in
                        Array(value.utf8).withUnsafeBytes { v in encoder.encode(name: n, value: v, indexing: .incremental, into: &output) }
                    }
                    fields += 1
                }
            }
            story.append(Array(output.bytes))
        }
        stories.append(story)
    }
    return stories.isEmpty ? nil : (stories, fields)
}

if let raw = encodeRawDataStories() {
    let (benchmark, note) = hpackDecodeBenchmark("raw-data (ours)", stories: raw.stories, fields: raw.fields)
    benchmarks.append(benchmark)
    benchmarkNotes.append(note)
}

// MARK: receive path (ReceivePath.swift)

benchmarks.append(dataFrameBenchmark(size: 16_384))
benchmarks.append(dataFrameBenchmark(size: 1024))
benchmarks.append(dataFrameBenchmark(size: 256))
benchmarks.append(requestBenchmark())
benchmarks.append(connectionBenchmark())

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
// SWIFTLET_MICROBENCH_OPS=N: N operations after the warm-up, once (for
// instruction counts under valgrind --tool=callgrind, which do not depend
// on how busy the machine is).
let fixedOperations = ProcessInfo.processInfo.environment["SWIFTLET_MICROBENCH_OPS"].flatMap { Int($0) }
for benchmark in benchmarks where filter.map({ benchmark.name.contains($0) }) ?? true {
    benchmark.run(10_000)  // warm-up: pools, slabs and arrays reach their size
    if let fixedOperations {
        benchmark.run(fixedOperations)
        print("\(benchmark.name): \(fixedOperations) operations")
        continue
    }
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
    let nanoseconds = Double(elapsed) / Double(count)
    var line = name + String(format: " %8.1f    %9.4f", nanoseconds, perOp)
    switch benchmark.derived {
    case .throughput(let bytes): line += String(format: "    %.2f GB/s", bytes / nanoseconds)
    case .perItem(let item, let items): line += String(format: "    %.1f ns/%@", nanoseconds / items, item)
    case nil: break
    }
    print(line)
    if let budget = benchmark.allocationBudget, perOp > budget + 0.0001 {
        failures.append("\(benchmark.name): \(perOp) allocations per operation, budget \(budget)")
    }
}
for note in benchmarkNotes { print(note) }
if check && !failures.isEmpty {
    for failure in failures { print("FAIL \(failure)") }
    exit(1)
}
