/// One value stored out of line, whose accesses Swift does not check for
/// exclusivity at run time.
///
/// Swift checks a class's stored `var` at run time (`swift_beginAccess`,
/// about a hundred instructions a time) unless it can prove that no access
/// to it overlaps another: a single in-place mutation anywhere in the
/// module that may run code it cannot see (a release that may run a
/// `deinit`, a call into another module, string formatting) makes every
/// access to that property checked, everywhere. A collection of class
/// references mutated in place (a stream table, a scheduler's queues, a
/// free list) is such a property, and on the per-request path those checks
/// cost more than the work they guard.
///
/// A property that forwards to a cell with `unsafeAddress` /
/// `unsafeMutableAddress` keeps value semantics and in-place mutation and
/// drops the check. **Invariant the owner states and keeps**: the value's
/// mutating methods never call back into code that could reach the same
/// cell (handlers, transports, closures), so no two accesses overlap.
///
/// ```swift
/// let streamsCell = UncheckedCell(StreamTable<HTTP2Stream>(capacity: 100))
/// var streams: StreamTable<HTTP2Stream> {
///     unsafeAddress { streamsCell.address }
///     unsafeMutableAddress { streamsCell.mutableAddress }
/// }
/// ```
public struct UncheckedCell<Value: ~Copyable>: ~Copyable {
    private let storage: UnsafeMutablePointer<Value>

    public init(_ value: consuming Value) {
        storage = .allocate(capacity: 1)
        storage.initialize(to: value)
    }

    deinit {
        storage.deinitialize(count: 1)
        storage.deallocate()
    }

    /// For a forwarding property's `unsafeAddress`.
    @inline(__always)
    public var address: UnsafePointer<Value> { UnsafePointer(storage) }

    /// For a forwarding property's `unsafeMutableAddress`.
    @inline(__always)
    public var mutableAddress: UnsafeMutablePointer<Value> { storage }

    /// The value.
    @inline(__always)
    public var value: Value {
        unsafeAddress { UnsafePointer(storage) }
        nonmutating unsafeMutableAddress { storage }
    }
}
