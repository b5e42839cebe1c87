import CSwiftletSystem
import Glibc
import SwiftletLoop

/// Brings file pages into memory on a helper thread, so that a loop never
/// blocks on disk: the kernel copies mapped file bytes into the socket
/// inside `sendmsg`, and a page that is not in the page cache would make
/// that call wait for the disk while every other connection of the loop
/// waits too.
///
/// A handler checks residency first (`mincore`, cheap); only when pages are
/// missing does it hand the range here. The helper reads the pages in with
/// `madvise(MADV_POPULATE_READ)`, which returns only once they are in
/// memory (or fails with EFAULT if the file shrank), and posts the result
/// back to the loop with `EventLoop.execute`. The waiting response is
/// parked meanwhile: nothing polls for it.
final class Prefetcher: @unchecked Sendable {  // state is a Locked queue and a semaphore
    private struct Job: @unchecked Sendable {
        let start: UnsafeRawPointer
        let length: Int
        let loop: EventLoop
        let completion: @Sendable (Bool) -> Void
    }

    private let queue = Locked<[Job]>([])
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

    /// Reads every page of `region` into memory on the helper thread, then
    /// runs `completion` on `loop` with whether that succeeded (false: the
    /// file no longer covers the region). The caller keeps the mapping
    /// alive until then.
    func prefetch(_ region: UnsafeRawBufferPointer, loop: EventLoop, completion: @escaping @Sendable (Bool) -> Void) {
        guard let base = region.baseAddress, region.count > 0 else {
            loop.execute { completion(true) }
            return
        }
        queue.withLock { $0.append(Job(start: base, length: region.count, loop: loop, completion: completion)) }
        sem_post(semaphore)
    }

    private func work() {
        while true {
            while sem_wait(semaphore) != 0 && errno == EINTR {}
            guard let job = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
            let populated = swiftlet_populate_read(job.start, job.length) == 0
            let completion = job.completion
            job.loop.execute { completion(populated) }
        }
    }
}

/// A region of a cached file (byte offset and length) being prefetched.
struct PrefetchRegion: Hashable {
    let offset: Int
    let length: Int
}

/// A response parked until a prefetch finishes: runs `body` with the
/// prefetch's outcome on the loop, unless the exchange closed meanwhile.
/// Created and resumed on the same loop thread; it only passes through the
/// helper thread, which never touches it (hence the unchecked Sendable).
final class PrefetchWaiter: @unchecked Sendable {
    let pending: PendingBody
    let body: (Bool) -> Void

    init(pending: PendingBody, body: @escaping (Bool) -> Void) {
        self.pending = pending
        self.body = body
    }

    func resume(populated: Bool) {
        if !pending.cancelled { body(populated) }
    }
}
