import Testing
@testable import SwiftletLoop

/// The table from the kernel's 64-bit tokens to what they name.
@Suite("IORegistry and IOToken")
struct IORegistryTests {
    @Test("a token packs slot, generation and operation")
    func token() {
        let token = IOToken(slot: 0xAB_CDEF, generation: 7, operation: .send)
        #expect(token.slot == 0xAB_CDEF && token.generation == 7 && token.operation == .send)
        #expect(IOToken(raw: token.raw) == token)
    }

    @Test("unregistering hands the source back, and a late token for the slot names nothing, also once the slot is reused")
    func reuse() {
        var registry = IORegistry()
        let (slot, generation) = registry.register(.wakeup)
        #expect(registry.count == 1)
        let late = IOToken(slot: slot, generation: generation, operation: .read)
        guard case .wakeup? = registry.lookup(late) else { Issue.record("the registered source"); return }
        guard case .wakeup? = registry.unregister(slot: slot, generation: generation) else {
            Issue.record("unregister returns the source for its caller to release"); return
        }
        #expect(registry.count == 0)
        #expect(registry.lookup(late) == nil)
        #expect(registry.unregister(slot: slot, generation: generation) == nil, "only once")
        let (reused, newGeneration) = registry.register(.wakeup)
        #expect(reused == slot && newGeneration == generation &+ 1)
        #expect(registry.lookup(late) == nil, "the old generation does not reach the new source")
        #expect(registry.lookup(IOToken(slot: reused, generation: newGeneration, operation: .read)) != nil)
    }
}
