import SwiftletHTTP
import SwiftletLoop

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`;
/// a bare address is a /32 or /128).
public struct AddressRange: Sendable, Equatable, CustomStringConvertible {
    let network: [UInt8]
    let prefixLength: Int

    public init(cidr text: String) throws {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = try? SocketAddress(ip: String(parts[0]), port: 0) else { throw AddressRangeError(text: text) }
        let bytes = address.addressBytes
        let length: Int
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), (0...bytes.count * 8).contains(parsed), parts[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw AddressRangeError(text: text)
            }
            length = parsed
        } else {
            length = bytes.count * 8
        }
        prefixLength = length
        network = Self.masked(bytes, to: length)
    }

    /// Whether `bytes` (4 or 16, network order) lie in the range. An
    /// IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what an IPv6 listener
    /// reports for an IPv4 peer) counts as its IPv4 address.
    public func contains(_ bytes: [UInt8]) -> Bool {
        let address = Self.unmapped(bytes)
        return address.count == network.count && Self.masked(address, to: prefixLength) == network
    }

    public var description: String { "\(SocketAddress(addressBytes: network, port: 0)?.host ?? "?")/\(prefixLength)" }

    static func masked(_ bytes: [UInt8], to length: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = min(max(length - index * 8, 0), 8)
            return bits == 8 ? byte : byte & ~(0xFF >> UInt8(bits))
        }
    }

    static func unmapped(_ bytes: [UInt8]) -> [UInt8] {
        let mappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]
        return bytes.count == 16 && bytes.starts(with: mappedPrefix) ? Array(bytes.suffix(4)) : bytes
    }
}

public struct AddressRangeError: Error, Equatable, CustomStringConvertible {
    public let text: String
    public var description: String { "'\(text)' is not an IPv4 or IPv6 address or CIDR range like 10.0.0.0/8 or 2001:db8::/32" }
}

/// The proxies whose `x-forwarded-for` is believed (nginx's `set_real_ip_from`
/// with `real_ip_recursive on`). A request that reaches the server from one
/// of them is logged with the client they name: the rightmost address of
/// `x-forwarded-for` (all its fields, in order) that is not itself a
/// trusted proxy. A request from anywhere else keeps its peer address,
/// whatever it claims: a client can write any `x-forwarded-for`, and only
/// the part appended by proxies we trust is true.
public struct TrustedProxies: Sendable, Equatable {
    public var ranges: [AddressRange]

    public init(_ ranges: [AddressRange] = []) {
        self.ranges = ranges
    }

    public var isEmpty: Bool { ranges.isEmpty }

    public func trusts(_ bytes: [UInt8]) -> Bool {
        ranges.contains { $0.contains(bytes) }
    }

    /// The client address to log for a request from `peer` (its numeric
    /// address) with `fields`; nil keeps the peer's.
    public func clientAddress(peer: String, fields: HTTPFieldList) -> String? {
        guard let peer = try? SocketAddress(ip: peer, port: 0), trusts(peer.addressBytes) else { return nil }
        var hops: [Substring] = []
        let name = Array("x-forwarded-for".utf8)
        for index in 0..<fields.count {
            let field = fields[index]
            guard field.name.elementsEqual(name) else { continue }
            hops += String(decoding: field.value, as: UTF8.self).split(separator: ",")
        }
        var client: String?
        for hop in hops.reversed() {
            let text = hop.trimmingSpaces
            guard let address = try? SocketAddress(ip: text, port: 0) else { break }  // garbage: stop believing
            client = address.host
            if !trusts(address.addressBytes) { break }
        }
        return client
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
