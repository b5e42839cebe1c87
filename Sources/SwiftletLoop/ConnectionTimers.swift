/// The named timers of one connection (idle, preface, header block, write
/// check, ...): at most one pending timer per name, scheduled on the loop's
/// `TimerWheel` with the connection as target and the name's raw value as
/// tag. Shared by HTTP/1.1 and HTTP/2.
///
/// A value that holds timer ids only and never calls the wheel: the owner
/// does, before or after touching the ids, so its stored `ConnectionTimers`
/// is never borrowed across a call into other code (which would make Swift
/// check that property's exclusivity at run time on every access).
///
///     // in the owner (a TimerTarget):
///     func schedule(_ name: Name, at deadline: UInt64) {
///         let id = wheel.schedule(at: deadline, target: self, tag: name.rawValue)
///         if let old = timers.set(name, id) { wheel.cancel(old) }
///     }
///     func cancel(_ name: Name) { if let id = timers.take(name) { wheel.cancel(id) } }
///     func timerFired(_ id: TimerID, tag: UInt64) {
///         switch timers.fired(id, tag: tag) { case .idle: ...; case nil: break }
///     }
///
/// Names are an enum whose raw values are 1...8.
@frozen
public struct ConnectionTimers<Name: RawRepresentable & CaseIterable>: Sendable where Name.RawValue == UInt64 {
    /// Each name's pending timer, `TimerID.unissued` for none (64 bytes;
    /// optionals would take 96).
    @usableFromInline var ids: InlineArray<8, TimerID>

    @inlinable
    public init() {
        assert(Name.allCases.allSatisfy { (1...8).contains($0.rawValue) }, "timer names must have raw values 1...8")
        ids = InlineArray(repeating: .unissued)
    }

    @inlinable
    static func slot(_ name: Name) -> Int { Int(truncatingIfNeeded: name.rawValue &- 1) }

    /// Whether a timer of this name is pending.
    @inlinable
    public func isPending(_ name: Name) -> Bool { ids[Self.slot(name)] != .unissued }

    /// `name` is now the timer `id` (scheduled by the owner, with
    /// `name.rawValue` as tag); returns the one it replaces, for the owner
    /// to cancel.
    @inlinable
    public mutating func set(_ name: Name, _ id: TimerID) -> TimerID? {
        let old = ids[Self.slot(name)]
        ids[Self.slot(name)] = id
        return old == .unissued ? nil : old
    }

    /// Clears `name`; returns its pending timer, for the owner to cancel.
    @inlinable
    public mutating func take(_ name: Name) -> TimerID? {
        let id = ids[Self.slot(name)]
        ids[Self.slot(name)] = .unissued
        return id == .unissued ? nil : id
    }

    /// A timer of the owner's fired: its name if it is the pending timer of
    /// that name (which is then no longer pending); nil for a stale id (a
    /// timer cancelled or replaced after it was collected for firing) or a
    /// tag that names nothing.
    @inlinable
    public mutating func fired(_ id: TimerID, tag: UInt64) -> Name? {
        guard let name = Name(rawValue: tag), id != .unissued, ids[Self.slot(name)] == id else { return nil }
        ids[Self.slot(name)] = .unissued
        return name
    }
}
