import CSwiftletSystem
import Glibc
import Synchronization
import SwiftletLoop

/// Brings file pages into memory on a helper thread, so that a loop never
/// blocks on disk: the kernel copies mapped file bytes into the socket
/// inside `sendmsg`, and a page that is not in the page cache would make
/// that call wait for the disk while every other connection of the loop
/// waits too.
///
/// A handler checks residency first (`mincore`, cheap); only when pages are
/// missing does it hand the range here, and it continues when the helper
/// posts back to the loop with `EventLoop.execute`.
final class Prefetcher: @unchecked Sendable {  // state is a Mutex and a semaphore
    private struct Job: @unchecked Sendable {
        let start: UnsafeRawPointer
        let length: Int
        let loop: EventLoop
        let completion: @Sendable () -> Void
    }

    private let queue = Mutex<[Job]>([])
    private let wake = Mutex<Bool>(false)
    private let semaphore: UnsafeMutablePointer<sem_t>

    init() {
        semaphore = .allocate(capacity: 1)
        sem_init(semaphore, 0, 0)
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        pthread_create(&thread, nil, { raw in
            let prefetcher = Unmanaged<Prefetcher>.fromOpaque(raw!).takeRetainedValue()
            swiftlet_set_thread_name("swiftlet-prefet")
            prefetcher.work()
            return nil
        }, context)
        pthread_detach(thread)
    }

    /// Whether every page of the range is in memory.
    static func isResident(_ region: UnsafeRawBufferPointer) -> Bool {
        guard let base = region.baseAddress, region.count > 0 else { return true }
        let page = swiftlet_page_size()
        let start = UInt(bitPattern: base) & ~UInt(page - 1)
        let pages = (Int(UInt(bitPattern: base) - start) + region.count + page - 1) / page
        return swiftlet_resident_pages(UnsafeMutableRawPointer(mutating: base), region.count) == pages
    }

    /// Touches every page of `region` on the helper thread, then runs
    /// `completion` on `loop`. The caller keeps the mapping alive until then.
    func prefetch(_ region: UnsafeRawBufferPointer, loop: EventLoop, completion: @escaping @Sendable () -> Void) {
        guard let base = region.baseAddress else {
            loop.execute(completion)
            return
        }
        queue.withLock { $0.append(Job(start: base, length: region.count, loop: loop, completion: completion)) }
        sem_post(semaphore)
    }

    private func work() {
        let page = swiftlet_page_size()
        while true {
            while sem_wait(semaphore) != 0 && errno == EINTR {}
            guard let job = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
            var sum: UInt8 = 0
            var offset = 0
            while offset < job.length {
                sum &+= job.start.load(fromByteOffset: offset, as: UInt8.self)
                offset += page
            }
            if job.length > 0 { sum &+= job.start.load(fromByteOffset: job.length - 1, as: UInt8.self) }
            withExtendedLifetime(sum) {}
            job.loop.execute(job.completion)
        }
    }
}
