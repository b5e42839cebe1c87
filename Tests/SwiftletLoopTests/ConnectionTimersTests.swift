import SwiftletLoop
import Testing

/// A connection's named timers on a real wheel whose clock the test moves:
/// one pending timer per name, stale firings ignored.
@Suite("ConnectionTimers")
struct ConnectionTimersTests {
    enum Name: UInt64, CaseIterable { case idle = 1, head, write }

    /// An owner as a connection is one: schedules through the wheel, keeps
    /// the ids in its `ConnectionTimers`, records what fired.
    final class Owner: TimerTarget {
        let wheel = TimerWheel(now: 0, slotCount: 64)
        var timers = ConnectionTimers<Name>()
        var fired: [Name] = []

        func schedule(_ name: Name, at deadline: UInt64) {
            let id = wheel.schedule(at: deadline, target: self, tag: name.rawValue)
            if let old = timers.set(name, id) { wheel.cancel(old) }
        }

        func cancel(_ name: Name) {
            if let id = timers.take(name) { wheel.cancel(id) }
        }

        func timerFired(_ id: TimerID, tag: UInt64) {
            if let name = timers.fired(id, tag: tag) { fired.append(name) }
        }
    }

    let ms: UInt64 = 1_000_000

    @Test("a scheduled timer fires once, by name, and is then no longer pending")
    func firesOnce() {
        let owner = Owner()
        owner.schedule(.idle, at: 10 * ms)
        #expect(owner.timers.isPending(.idle))
        #expect(!owner.timers.isPending(.head))
        owner.wheel.advance(to: 20 * ms)
        #expect(owner.fired == [.idle])
        #expect(!owner.timers.isPending(.idle))
        owner.wheel.advance(to: 40 * ms)
        #expect(owner.fired == [.idle])
    }

    @Test("scheduling a name again replaces its timer: only the new deadline fires")
    func replaces() {
        let owner = Owner()
        owner.schedule(.head, at: 10 * ms)
        owner.schedule(.head, at: 30 * ms)
        owner.wheel.advance(to: 20 * ms)
        #expect(owner.fired.isEmpty, "the replaced timer was cancelled")
        owner.wheel.advance(to: 30 * ms)
        #expect(owner.fired == [.head])
        #expect(owner.wheel.count == 0)
    }

    @Test("cancel stops one name; the others still fire")
    func cancels() {
        let owner = Owner()
        owner.schedule(.idle, at: 10 * ms)
        owner.schedule(.write, at: 10 * ms)
        owner.cancel(.idle)
        owner.cancel(.head)  // nothing pending: nothing happens
        owner.wheel.advance(to: 20 * ms)
        #expect(owner.fired == [.write])
    }

    @Test("a stale id (a timer replaced after its name was cleared) or an unknown tag is not a firing")
    func stale() {
        var timers = ConnectionTimers<Name>()
        let owner = Owner()
        let first = owner.wheel.schedule(at: 10 * ms, target: owner, tag: Name.idle.rawValue)
        let second = owner.wheel.schedule(at: 20 * ms, target: owner, tag: Name.idle.rawValue)
        #expect(timers.set(.idle, first) == nil)
        #expect(timers.set(.idle, second) == first, "the replaced id comes back, for the owner to cancel")
        #expect(timers.fired(first, tag: Name.idle.rawValue) == nil)
        #expect(timers.fired(second, tag: 99) == nil)
        #expect(timers.fired(second, tag: Name.head.rawValue) == nil)
        #expect(timers.fired(second, tag: Name.idle.rawValue) == .idle)
        #expect(timers.fired(second, tag: Name.idle.rawValue) == nil, "once only")
        #expect(timers.take(.idle) == nil)
    }

    @Test("eight names take 64 bytes: no optional's tag byte and padding per id")
    func size() {
        #expect(MemoryLayout<ConnectionTimers<Name>>.size == 64)
        var timers = ConnectionTimers<Name>()
        #expect(!timers.isPending(.idle) && timers.take(.idle) == nil)
    }
}
