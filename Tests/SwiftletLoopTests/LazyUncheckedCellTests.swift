import SwiftletLoop
import Testing

@Suite("LazyUncheckedCell: a value made on first use")
struct LazyUncheckedCellTests {
    /// How the engine uses it: a forwarding property that makes the value
    /// the first time it is reached.
    final class Owner {
        var itemsCell = LazyUncheckedCell<[Int]>()
        private(set) var made = 0
        var items: [Int] {
            unsafeAddress { UnsafePointer(itemsAddress) }
            unsafeMutableAddress { itemsAddress }
        }
        var itemsAddress: UnsafeMutablePointer<[Int]> { itemsCell.addressIfMade ?? makeItems() }
        private func makeItems() -> UnsafeMutablePointer<[Int]> {
            made += 1
            return itemsCell.adopt(LazyUncheckedCell.allocate([]))
        }
    }

    @Test("holds nothing until reached, then makes the value once and mutates it in place")
    func madeOnFirstUse() {
        let owner = Owner()
        #expect(owner.itemsCell.addressIfMade == nil)
        #expect(owner.made == 0)
        owner.items.append(1)
        let address = owner.itemsCell.addressIfMade
        #expect(address != nil)
        owner.items.append(contentsOf: [2, 3])
        #expect(owner.items == [1, 2, 3])
        #expect(owner.made == 1, "made once")
        #expect(owner.itemsCell.addressIfMade == address, "the same storage from then on")
    }

    @Test("the value is released with the cell, once; an empty cell releases nothing")
    func releasesValue() {
        var released = 0
        do {
            var cell = LazyUncheckedCell<Tracked>()
            cell.adopt(LazyUncheckedCell.allocate(Tracked { released += 1 }))
            #expect(released == 0)
        }
        #expect(released == 1)
        do {
            let empty = LazyUncheckedCell<Tracked>()
            #expect(empty.addressIfMade == nil)
        }
        #expect(released == 1)
    }
}
