import Glibc
import Testing
@testable import SwiftletLoop

/// Every connection keeps its peer's address: IP addresses inline, Unix
/// sockets' in an array, and what the kernel sees is the same either way.
@Suite("SocketAddress")
struct SocketAddressTests {
    @Test("an address takes 40 bytes, not a sockaddr_storage's 128")
    func size() {
        #expect(MemoryLayout<SocketAddress>.size <= 40)
    }

    @Test("IPv4 and IPv6: host, port, bytes and the sockaddr the kernel is given")
    func ipAddresses() throws {
        let v4 = try SocketAddress(ip: "192.0.2.7", port: 8443)
        #expect(v4.description == "192.0.2.7:8443")
        #expect(v4.addressBytes == [192, 0, 2, 7])
        v4.withSockAddr { pointer, length in
            #expect(length == socklen_t(MemoryLayout<sockaddr_in>.size))
            let address = UnsafeRawPointer(pointer).load(as: sockaddr_in.self)
            #expect(Int32(address.sin_family) == AF_INET)
            #expect(UInt16(bigEndian: address.sin_port) == 8443)
        }
        let v6 = try SocketAddress(ip: "[2001:db8::1]", port: 443)
        #expect(v6.description == "[2001:db8::1]:443")
        #expect(v6.isIPv6 && !v6.isUnix)
        #expect(v6.addressBytes == [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1])
        v6.withSockAddr { pointer, length in
            #expect(length == socklen_t(MemoryLayout<sockaddr_in6>.size))
            #expect(Int32(UnsafeRawPointer(pointer).load(as: sockaddr_in6.self).sin6_family) == AF_INET6)
        }
        #expect(SocketAddress(addressBytes: [192, 0, 2, 7], port: 8443) == v4)
        #expect(v4 != (try SocketAddress(ip: "192.0.2.7", port: 8444)))
    }

    @Test("Unix sockets: a path, an abstract name and a client's unnamed end, as accept gives them")
    func unixAddresses() throws {
        let path = "/run/" + String(repeating: "p", count: 90) + ".sock"
        let named = try SocketAddress(unixPath: path)
        #expect(named.isUnix && named.unixPath == path && named.port == 0)
        named.withSockAddr { pointer, length in
            #expect(Int(length) == MemoryLayout<sa_family_t>.size + path.utf8.count + 1)
            #expect(Int32(pointer.pointee.sa_family) == AF_UNIX)
        }
        #expect(try SocketAddress(abstractUnixName: "swiftlet").description == "unix:@swiftlet")
        var storage = sockaddr_storage()
        storage.ss_family = sa_family_t(AF_UNIX)
        let unnamed = SocketAddress(accepted: storage, length: socklen_t(MemoryLayout<sa_family_t>.size), named: true)
        #expect(unnamed?.isUnix == true && unnamed?.unixPath == nil)
        #expect(unnamed != named)
    }

    @Test("an accepted IPv6 peer keeps its port and address")
    func accepted() throws {
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = UInt16(52_000).bigEndian
        address.sin6_addr.__in6_u.__u6_addr8.15 = 1
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: address, as: sockaddr_in6.self) }
        let peer = SocketAddress(accepted: storage, length: socklen_t(MemoryLayout<sockaddr_in6>.size), named: true)
        #expect(peer == (try SocketAddress(ip: "::1", port: 52_000)))
    }
}
