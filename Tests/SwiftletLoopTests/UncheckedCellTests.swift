import SwiftletLoop
import Testing

@Suite("UncheckedCell: one value out of line, mutated in place")
struct UncheckedCellTests {
    /// How the engine uses a cell: a `let` cell and a forwarding property.
    final class Owner {
        let itemsCell = UncheckedCell<[Int]>([])
        var items: [Int] {
            unsafeAddress { itemsCell.address }
            unsafeMutableAddress { itemsCell.mutableAddress }
        }
    }

    @Test("a forwarding property reads and mutates the one stored value, in place")
    func forwarding() {
        let owner = Owner()
        owner.items.append(1)
        owner.items.append(contentsOf: [2, 3])
        owner.items[0] = 10
        #expect(owner.items == [10, 2, 3])
        #expect(owner.itemsCell.value == [10, 2, 3])
        owner.items.reserveCapacity(64)
        let storage = owner.items.withUnsafeBufferPointer { $0.baseAddress }
        owner.items.removeAll(keepingCapacity: true)
        owner.items.append(7)
        #expect(owner.items.withUnsafeBufferPointer { $0.baseAddress } == storage, "mutated in place, not copied")
    }

    @Test("the value is released with the cell, once")
    func releasesValue() {
        var released = 0
        do {
            let cell = UncheckedCell(Tracked { released += 1 })
            #expect(released == 0)
            cell.value = Tracked { released += 10 }
            #expect(released == 1, "the replaced value is released")
        }
        #expect(released == 11, "the cell's value is released with it")
    }

    @Test("holds a noncopyable value")
    func noncopyable() {
        struct Handle: ~Copyable {
            var count = 0
            mutating func bump() { count += 1 }
        }
        let cell = UncheckedCell(Handle())
        cell.value.bump()
        cell.value.bump()
        #expect(cell.value.count == 2)
    }
}
