import CSwiftletSystem
import Glibc
import Testing

/// The C helpers that keep a file shrinking under its mapping from killing
/// the server: the prefetcher's populate call and the SIGBUS guard.
@Suite("File mappings that outlive their file's size")
struct FileMappingTests {
    /// A 64 KiB file of 0x5A bytes, mapped; the file is truncated to `keep`
    /// bytes after mapping. Returns the mapping and its descriptor.
    func mappedThenTruncated(keep: Int) throws -> (UnsafeMutableRawPointer, Int32) {
        let fd = swiftlet_memfd_create("mapping-test")
        try #require(fd >= 0)
        let bytes = [UInt8](repeating: 0x5A, count: 65_536)
        #expect(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == 65_536)
        let mapping = try #require(mmap(nil, 65_536, PROT_READ, MAP_SHARED, fd, 0))
        try #require(mapping != MAP_FAILED)
        #expect(ftruncate(fd, off_t(keep)) == 0)
        return (mapping, fd)
    }

    @Test("populate reads pages in, and says EFAULT for pages past a shrunk end instead of faulting")
    func populateReportsShrunkFile() throws {
        let (mapping, fd) = try mappedThenTruncated(keep: 8192)
        defer {
            munmap(mapping, 65_536)
            close(fd)
        }
        #expect(swiftlet_populate_read(mapping, 8192) == 0)
        #expect(swiftlet_populate_read(mapping, 65_536) == -EFAULT)
    }

    @Test("a read past a shrunk end of a guarded mapping reads zeros and marks the mapping")
    func guardAbsorbsSIGBUS() throws {
        swiftlet_sigbus_guard_install()
        let (mapping, fd) = try mappedThenTruncated(keep: 4096)
        defer {
            munmap(mapping, 65_536)
            close(fd)
        }
        let slot = swiftlet_mapping_register(mapping, 65_536)
        try #require(slot >= 0)
        defer { swiftlet_mapping_unregister(slot) }
        #expect(!swiftlet_mapping_faulted(slot))
        let inside = mapping.load(fromByteOffset: 100, as: UInt8.self)
        #expect(inside == 0x5A)
        #expect(!swiftlet_mapping_faulted(slot))
        // Past the new end: SIGBUS without the guard.
        let past = mapping.load(fromByteOffset: 40_000, as: UInt8.self)
        #expect(past == 0)
        #expect(swiftlet_mapping_faulted(slot))
    }

    @Test("registration slots are reused after unregistering")
    func slotsAreReused() {
        let before = swiftlet_mapping_count()
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { memory.deallocate() }
        let slots = (0..<100).map { _ in swiftlet_mapping_register(memory, 4096) }
        #expect(slots.allSatisfy { $0 >= 0 })
        #expect(Set(slots).count == 100)
        #expect(swiftlet_mapping_count() == before + 100)
        for slot in slots { swiftlet_mapping_unregister(slot) }
        #expect(swiftlet_mapping_count() == before)
        #expect(swiftlet_mapping_register(nil, 10) == -1)
    }
}
