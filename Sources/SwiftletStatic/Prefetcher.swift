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
final class Prefetcher: Sendable {
    /// A region of a mapping, handed to the helper thread (which only
    /// reads its pages in; the caller keeps the mapping alive).
    private struct Region: @unchecked Sendable {
        let start: UnsafeRawPointer
        let length: Int
    }

    private let thread = WorkerThread(name: "swiftlet-prefet")

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
        let pages = Region(start: base, length: region.count)
        thread.submit {
            let populated = swiftlet_populate_read(pages.start, pages.length) == 0
            loop.execute { completion(populated) }
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
