import CSwiftletSystem
import Glibc

/// An IPv4 or IPv6 address and port, or a Unix domain socket's path.
///
/// Every connection keeps its peer's, so the value is 40 bytes rather than
/// a `sockaddr_storage`'s 128: an IP address sits inline (a `sockaddr_in6`
/// holds a `sockaddr_in` too), a Unix socket's address (up to 110 bytes)
/// in an array.
public struct SocketAddress: Sendable, Equatable, CustomStringConvertible {
    // (In this order the fields pack into 40 bytes.)
    /// The address of a Unix socket (empty for an IP address).
    private var unix: [UInt8] = []
    /// The address of an IPv4 or IPv6 socket, its first `length` bytes.
    private var inline = sockaddr_in6()
    private var length: socklen_t

    /// Parses a numeric IPv4 (`127.0.0.1`) or IPv6 (`::1`, `[::1]`) address.
    public init(ip: String, port: UInt16) throws {
        var host = ip
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.contains(":") {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, host, &address.sin6_addr) == 1 else {
                throw AddressError.invalid(ip)
            }
            self.init(bytesOf: address)
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
                throw AddressError.invalid(ip)
            }
            self.init(bytesOf: address)
        }
    }

    /// An IPv4 (4 bytes) or IPv6 (16 bytes) address in network order, and a
    /// port; nil for any other length.
    public init?(addressBytes bytes: some Collection<UInt8>, port: UInt16) {
        switch bytes.count {
        case 4:
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &address.sin_addr) { $0.copyBytes(from: bytes) }
            self.init(bytesOf: address)
        case 16:
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &address.sin6_addr) { $0.copyBytes(from: bytes) }
            self.init(bytesOf: address)
        default:
            return nil
        }
    }

    /// The address bytes in network order (4 for IPv4, 16 for IPv6; empty
    /// for a Unix socket).
    public var addressBytes: [UInt8] {
        withBytes { raw in
            switch family {
            case AF_INET: withUnsafeBytes(of: raw.load(as: sockaddr_in.self).sin_addr) { Array($0) }
            case AF_INET6: withUnsafeBytes(of: raw.load(as: sockaddr_in6.self).sin6_addr) { Array($0) }
            default: []
            }
        }
    }

    /// Resolves a host name or numeric address (blocking; for start-up, not
    /// for the loop's hot path). The first address returned wins.
    public static func resolve(host: String, port: UInt16) throws -> SocketAddress {
        if let numeric = try? SocketAddress(ip: host, port: port) { return numeric }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result else { throw AddressError.unresolvable(host) }
        defer { freeaddrinfo(result) }
        return SocketAddress(copying: first.pointee.ai_addr, length: first.pointee.ai_addrlen)
    }

    /// A Unix domain socket's path (at most 107 bytes: `sun_path` holds
    /// 108 with the terminating zero).
    public init(unixPath path: String) throws {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, !bytes.contains(0) else { throw AddressError.unixPathTooLong(path) }
        try self.init(unixBytes: bytes + [0], original: path)
    }

    /// A socket in Linux's abstract namespace (unix(7)): `name` without the
    /// leading zero byte (written `@name` by systemd and `ss`).
    public init(abstractUnixName name: String) throws {
        try self.init(unixBytes: [0] + Array(name.utf8), original: "@" + name)
    }

    private init(unixBytes bytes: [UInt8], original: String) throws {
        var address = sockaddr_un()
        guard bytes.count <= MemoryLayout.size(ofValue: address.sun_path) else { throw AddressError.unixPathTooLong(original) }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let length = MemoryLayout<sa_family_t>.size + bytes.count
        self = withUnsafeBytes(of: address) { SocketAddress(copying: UnsafeRawBufferPointer(rebasing: $0[..<length])) }
    }

    /// The first `length` bytes of a `sockaddr` of any family.
    init(copying address: UnsafePointer<sockaddr>, length: socklen_t) {
        self.init(copying: UnsafeRawBufferPointer(start: address, count: Int(length)))
    }

    init(storage: sockaddr_storage, length: socklen_t) {
        self = withUnsafeBytes(of: storage) { SocketAddress(copying: UnsafeRawBufferPointer(rebasing: $0[..<Int(length)])) }
    }

    /// An IP socket's address of the size of its type.
    private init<Address>(bytesOf address: Address) {
        self = withUnsafeBytes(of: address) { SocketAddress(copying: $0) }
    }

    /// A `sockaddr`'s bytes: inline if they fit and are not a Unix
    /// socket's, else in the array.
    private init(copying bytes: UnsafeRawBufferPointer) {
        length = socklen_t(bytes.count)
        let family = bytes.count >= MemoryLayout<sa_family_t>.size ? Int32(bytes.load(as: sa_family_t.self)) : AF_UNSPEC
        if family != AF_UNIX && bytes.count <= MemoryLayout<sockaddr_in6>.size {
            withUnsafeMutableBytes(of: &inline) { $0.copyMemory(from: bytes) }
        } else {
            unix = Array(bytes)
        }
    }

    /// The address's `length` bytes, wherever they are kept.
    private func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if unix.isEmpty {
            return try withUnsafeBytes(of: inline) { try body(UnsafeRawBufferPointer(rebasing: $0[..<Int(length)])) }
        }
        return try unix.withUnsafeBytes(body)
    }

    /// A peer's address as `accept4` or `getpeername` gave it (`named`:
    /// the call succeeded): TCP or a Unix socket's, else nil.
    init?(accepted storage: sockaddr_storage, length: socklen_t, named: Bool) {
        let family = Int32(storage.ss_family)
        guard named, family == AF_INET || family == AF_INET6 || family == AF_UNIX else { return nil }
        self.init(storage: storage, length: length)
    }

    public var family: Int32 { unix.isEmpty ? Int32(inline.sin6_family) : AF_UNIX }
    public var isIPv6: Bool { family == AF_INET6 }

    /// A Unix domain socket's address (`unix:PATH`).
    public var isUnix: Bool { family == AF_UNIX }

    /// The port; 0 for a Unix domain socket.
    public var port: UInt16 {
        withUnsafeBytes(of: inline) { raw in
            switch family {
            case AF_INET6: UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port)
            case AF_INET: UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port)
            default: 0
            }
        }
    }

    /// A Unix domain socket's path (`@name` in the abstract namespace); nil
    /// for other addresses and for an unnamed socket (a client's end).
    public var unixPath: String? {
        guard isUnix else { return nil }
        let pathOffset = MemoryLayout<sa_family_t>.size
        guard Int(length) > pathOffset else { return nil }
        return withBytes { raw in
            let path = raw[pathOffset...]
            if path.first == 0 { return "@" + String(decoding: path.dropFirst(), as: UTF8.self) }
            let bytes = path.prefix { $0 != 0 }
            return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
        }
    }

    /// The numeric host, without brackets (`127.0.0.1`, `::1`); `unix` for
    /// a Unix domain socket.
    public var host: String {
        if isUnix { return "unix" }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        withUnsafeBytes(of: inline) { raw in
            if isIPv6 {
                var address = raw.load(as: sockaddr_in6.self).sin6_addr
                _ = inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
            } else {
                var address = raw.load(as: sockaddr_in.self).sin_addr
                _ = inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count))
            }
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `host:port`, with brackets around IPv6 hosts; `unix:PATH` for a Unix
    /// domain socket.
    public var description: String {
        if isUnix { return "unix:\(unixPath ?? "")" }
        return isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Calls `body` with the address as a `sockaddr` pointer and its length.
    public func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        try withBytes { raw in
            try body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }

    public static func == (a: SocketAddress, b: SocketAddress) -> Bool {
        a.length == b.length && a.withBytes { x in b.withBytes { y in x.elementsEqual(y) } }
    }
}

public enum AddressError: Error, Equatable, CustomStringConvertible {
    case invalid(String)
    case unresolvable(String)
    case unixPathTooLong(String)

    public var description: String {
        switch self {
        case .unixPathTooLong(let path): "Unix socket path '\(path)' is empty, contains a zero byte or is longer than 107 bytes"
        case .invalid(let text): "'\(text)' is not a numeric IPv4 or IPv6 address"
        case .unresolvable(let host): "cannot resolve host '\(host)'"
        }
    }
}
