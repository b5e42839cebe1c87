import SwiftletHTTP
import SwiftletLoop
@testable import SwiftletServer
import Testing

@Suite("PROXY protocol headers (haproxy proxy-protocol.txt v1 and v2)")
struct ProxyProtocolTests {
    static func parse(_ bytes: [UInt8]) -> ProxyHeader.Parse {
        bytes.withUnsafeBytes { ProxyHeader.parse($0) }
    }

    static func parse(_ text: String) -> ProxyHeader.Parse { parse(Array(text.utf8)) }

    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    /// A v2 header: command (0x20 LOCAL, 0x21 PROXY), family/transport, block.
    static func v2(_ command: UInt8, _ family: UInt8, _ block: [UInt8]) -> [UInt8] {
        signature + [command, family, UInt8(block.count >> 8), UInt8(block.count & 0xFF)] + block
    }

    static func address(_ ip: String, _ port: UInt16) throws -> SocketAddress { try SocketAddress(ip: ip, port: port) }

    @Test("v1 TCP4 and TCP6: the client and the address it reached, the header's length")
    func v1() throws {
        let line = "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n"
        #expect(Self.parse(line + "GET / HTTP/1.1\r\n") == .header(ProxyHeader(
            length: line.utf8.count, version: 1, source: try Self.address("192.0.2.1", 56324), destination: try Self.address("198.51.100.7", 443))))
        let six = "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n"
        #expect(Self.parse(six) == .header(ProxyHeader(
            length: six.utf8.count, version: 1, source: try Self.address("2001:db8::1", 1), destination: try Self.address("2001:db8::2", 65535))))
        #expect(Self.parse("PROXY UNKNOWN ffff::1 whatever\r\nrest") == .header(ProxyHeader(length: 32, version: 1, source: nil, destination: nil)),
                "UNKNOWN: the connection's own addresses stand")
    }

    @Test("v1 malformed lines are invalid, with a reason", arguments: [
        "PROXY TCP4 192.0.2.1 198.51.100.7 56324\r\n",
        "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\n",
        "PROXY TCP4 2001:db8::1 198.51.100.7 1 2\r\n",
        "PROXY TCP6 192.0.2.1 198.51.100.7 1 2\r\n",
        "PROXY TCP4 192.0.2.1 198.51.100.7 056324 443\r\n",
        "PROXY TCP4 192.0.2.1 198.51.100.7 65536 443\r\n",
        "PROXY TCP4 192.0.2.1 198.51.100.7 +1 443\r\n",
        "PROXY UDP4 192.0.2.1 198.51.100.7 1 2\r\n",
        "PROXY TCP4  192.0.2.1 198.51.100.7 1 2\r\n",
    ])
    func v1Invalid(line: String) {
        guard case .invalid = Self.parse(line) else {
            Issue.record("\(line.debugDescription) was accepted: \(Self.parse(line))")
            return
        }
    }

    @Test("v1 without its line end within 107 bytes is invalid; shorter, it needs more")
    func v1Length() {
        let long = "PROXY TCP6 " + String(repeating: "f", count: 100)
        #expect(Self.parse(long) == .invalid("PROXY v1 line longer than 107 bytes"))
        #expect(Self.parse("PROXY TCP4 192.0.2.1 ") == .needMore)
        #expect(Self.parse("PRO") == .needMore)
    }

    @Test("v2 PROXY over TCP4 and TCP6; TLVs after the addresses are skipped")
    func v2() throws {
        let four = Self.v2(0x21, 0x11, [192, 0, 2, 1, 198, 51, 100, 7, 0xDC, 0x04, 0x01, 0xBB] + [0x04, 0x00, 0x01, 0x00])
        #expect(Self.parse(four + Array("PRI * HTTP/2.0".utf8)) == .header(ProxyHeader(
            length: 16 + 16, version: 2, source: try Self.address("192.0.2.1", 0xDC04), destination: try Self.address("198.51.100.7", 443))))
        let client = try Self.address("2001:db8::1", 8080)
        let server = try Self.address("2001:db8::2", 443)
        let six = Self.v2(0x21, 0x21, client.addressBytes + server.addressBytes + [0x1F, 0x90, 0x01, 0xBB])
        #expect(Self.parse(six) == .header(ProxyHeader(length: 16 + 36, version: 2, source: client, destination: server)))
    }

    @Test("v2 LOCAL (the proxy's health check) and families other than TCP keep the connection's addresses")
    func v2Local() {
        #expect(Self.parse(Self.v2(0x20, 0x00, [])) == .header(ProxyHeader(length: 16, version: 2, source: nil, destination: nil)))
        #expect(Self.parse(Self.v2(0x20, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2])) == .header(ProxyHeader(length: 28, version: 2, source: nil, destination: nil)))
        let unix = Self.v2(0x21, 0x31, [UInt8](repeating: 0, count: 216))
        #expect(Self.parse(unix) == .header(ProxyHeader(length: 16 + 216, version: 2, source: nil, destination: nil)))
        let udp = Self.v2(0x21, 0x12, [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2])
        #expect(Self.parse(udp) == .header(ProxyHeader(length: 28, version: 2, source: nil, destination: nil)))
    }

    @Test("v2 errors: version, command, unassigned family, a block too short, a header too long")
    func v2Invalid() {
        #expect(Self.parse(Self.v2(0x11, 0x11, [])) == .invalid("PROXY v2 version 1, not 2"))
        #expect(Self.parse(Self.v2(0x22, 0x11, [])) == .invalid("PROXY v2 command 2 is neither LOCAL (0) nor PROXY (1)"))
        #expect(Self.parse(Self.v2(0x21, 0x41, [])) == .invalid("PROXY v2 address family/transport 0x41 is unassigned"))
        #expect(Self.parse(Self.v2(0x21, 0x11, [1, 2, 3, 4])) == .invalid("PROXY v2 TCP4 block of 4 bytes is too short for its addresses"))
        let long = Self.v2(0x21, 0x11, [UInt8](repeating: 0, count: 5000))
        #expect(Self.parse(long) == .invalid("PROXY v2 header of 5016 bytes exceeds 4096"))
    }

    @Test("v2 arriving in pieces needs more until the whole block is there")
    func v2Partial() {
        let whole = Self.v2(0x21, 0x11, [192, 0, 2, 1, 198, 51, 100, 7, 0, 1, 0, 2])
        for count in [1, 11, 12, 15, 16, 27] {
            #expect(Self.parse(Array(whole.prefix(count))) == .needMore, "\(count) bytes")
        }
        guard case .header = Self.parse(whole) else {
            Issue.record("the whole header did not parse")
            return
        }
    }

    @Test("anything else is missing a header, decided on its first byte", arguments: ["G", "GET / HTTP/1.1\r\n", "PRI * HTTP/2.0\r\n", "\u{16}\u{03}\u{01}", "PROXX "])
    func missing(start: String) {
        #expect(Self.parse(start) == .missing)
    }
}

@Suite("trusted proxies: x-forwarded-for believed from them only")
struct TrustedProxiesTests {
    static func fields(_ pairs: [(String, String)]) -> HTTPFieldList {
        let list = HTTPFieldList()
        for (name, value) in pairs { list.append(name: name, value: value) }
        return list
    }

    @Test("CIDR ranges: IPv4, IPv6, bare addresses, IPv4-mapped IPv6 peers; malformed ranges named")
    func ranges() throws {
        let ten = try AddressRange(cidr: "10.0.0.0/8")
        #expect(ten.contains([10, 200, 3, 4]) && !ten.contains([11, 0, 0, 1]))
        #expect(ten.contains(try SocketAddress(ip: "::ffff:10.1.2.3", port: 0).addressBytes))
        #expect(try AddressRange(cidr: "10.1.2.3").contains([10, 1, 2, 3]))
        #expect(try !AddressRange(cidr: "10.1.2.3").contains([10, 1, 2, 4]))
        let doc = try AddressRange(cidr: "2001:db8::/32")
        #expect(doc.contains(try SocketAddress(ip: "2001:db8:ffff::1", port: 0).addressBytes))
        #expect(!doc.contains(try SocketAddress(ip: "2001:db9::1", port: 0).addressBytes))
        #expect(try AddressRange(cidr: "192.168.1.77/24").description == "192.168.1.0/24")
        #expect(try AddressRange(cidr: "0.0.0.0/0").contains([8, 8, 8, 8]))
        for bad in ["10.0.0.0/33", "10.0.0.0/", "host/8", "10.0.0.0/+8", "::/129"] {
            #expect(throws: AddressRangeError(text: bad)) { try AddressRange(cidr: bad) }
        }
    }

    @Test("from a trusted proxy: the rightmost untrusted hop of every x-forwarded-for field")
    func fromTrusted() throws {
        let proxies = TrustedProxies([try AddressRange(cidr: "127.0.0.0/8"), try AddressRange(cidr: "10.0.0.0/8")])
        #expect(proxies.clientAddress(peer: "127.0.0.1", fields: Self.fields([("x-forwarded-for", "203.0.113.9")])) == "203.0.113.9")
        // The client wrote its own header; the proxy appended a field: the
        // proxy's hop is the one believed.
        let spoofed = Self.fields([("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "203.0.113.9, 10.0.0.5")])
        #expect(proxies.clientAddress(peer: "127.0.0.1", fields: spoofed) == "203.0.113.9")
        #expect(proxies.clientAddress(peer: "127.0.0.1", fields: Self.fields([("x-forwarded-for", "10.0.0.5,10.0.0.6")])) == "10.0.0.5",
                "all trusted: the leftmost")
        #expect(proxies.clientAddress(peer: "127.0.0.1", fields: Self.fields([("x-forwarded-for", "garbage, 203.0.113.9")])) == "203.0.113.9")
        #expect(proxies.clientAddress(peer: "127.0.0.1", fields: Self.fields([("x-forwarded-for", "203.0.113.9, garbage")])) == nil,
                "a hop that is not an address ends the walk")
        #expect(proxies.clientAddress(peer: "127.0.0.1", fields: Self.fields([])) == nil)
    }

    @Test("from anyone else: the header is ignored")
    func fromUntrusted() throws {
        let proxies = TrustedProxies([try AddressRange(cidr: "10.0.0.0/8")])
        #expect(proxies.clientAddress(peer: "192.0.2.1", fields: Self.fields([("x-forwarded-for", "203.0.113.9")])) == nil)
        #expect(proxies.clientAddress(peer: "-", fields: Self.fields([("x-forwarded-for", "203.0.113.9")])) == nil)
    }
}
