/// An `UncheckedCell` whose value is made on first use: until then its owner
/// holds one word, not the value.
///
/// For state many owners never need: a connection that never opens a stream
/// (an idle client, a flood of connections that never send a request) needs
/// no stream table, scheduler or recently-closed ring.
///
/// Made in two steps so that the owner's stored property is only ever
/// accessed for an instant (`adopt` stores a pointer; nothing in it can
/// reach the owner), which lets Swift drop its run-time exclusivity checks
/// (see `UncheckedCell`):
///
/// ```swift
/// var stateCell = LazyUncheckedCell<State>()
/// var state: UnsafeMutablePointer<State> {
///     stateCell.addressIfMade ?? makeState()
/// }
/// @inline(never) func makeState() -> UnsafeMutablePointer<State> {
///     stateCell.adopt(LazyUncheckedCell.allocate(State()))
/// }
/// ```
///
/// **Invariant the owner keeps**, as for `UncheckedCell`: the value's
/// mutating methods never call back into code that could reach the cell.
public struct LazyUncheckedCell<Value>: ~Copyable {
    private var storage: UnsafeMutablePointer<Value>?

    public init() {}

    deinit {
        if let storage {
            storage.deinitialize(count: 1)
            storage.deallocate()
        }
    }

    /// The value's address, or nil if it was not made yet.
    @inline(__always)
    public var addressIfMade: UnsafeMutablePointer<Value>? { storage }

    /// Memory holding `value`, for `adopt`.
    public static func allocate(_ value: consuming Value) -> UnsafeMutablePointer<Value> {
        let pointer = UnsafeMutablePointer<Value>.allocate(capacity: 1)
        pointer.initialize(to: value)
        return pointer
    }

    /// Takes `pointer` (from `allocate`) as the value's storage, which the
    /// cell then owns and frees; returns it. The cell must be empty.
    @discardableResult
    public mutating func adopt(_ pointer: UnsafeMutablePointer<Value>) -> UnsafeMutablePointer<Value> {
        precondition(storage == nil, "LazyUncheckedCell: the value was already made")
        storage = pointer
        return pointer
    }
}
