import SwiftletLoop

/// The PROXY protocol header a load balancer (HAProxy, AWS NLB, …) sends
/// before anything else on a connection, saying whom it forwards: versions
/// 1 (text) and 2 (binary) of haproxy's proxy-protocol.txt. Decoding only;
/// `ProxyHeaderReader` decides what to do with the result.
///
///     v1: "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n"   (at most 107 bytes)
///         "PROXY UNKNOWN ...\r\n"                              (addresses ignored)
///     v2: \r\n\r\n\0\r\nQUIT\n  ver|cmd  family|transport  length(2)  addresses  TLVs
public struct ProxyHeader: Equatable, Sendable {
    /// Bytes the header takes at the front of the connection.
    public let length: Int
    /// 1 or 2.
    public let version: Int
    /// The client the proxy forwards, and the address it connected to; nil
    /// for v2's LOCAL command (the proxy's own health check), v1's UNKNOWN
    /// and address families other than TCP over IPv4 and IPv6: the
    /// connection's own addresses stand.
    public let source: SocketAddress?
    public let destination: SocketAddress?

    public enum Parse: Equatable, Sendable {
        /// Not enough bytes yet to decide.
        case needMore
        case header(ProxyHeader)
        /// The connection does not start with a PROXY signature.
        case missing
        /// It does, but the header is malformed: why.
        case invalid(String)
    }

    /// v1's longest header: "PROXY TCP6 " + two IPv6 addresses, two ports,
    /// spaces and CRLF (proxy-protocol.txt §2.1).
    public static let maximumV1Length = 107
    /// v2's 16-byte fixed part.
    static let v2FixedLength = 16
    /// v2's signature.
    static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    static let v1Signature = Array("PROXY ".utf8)

    /// Decodes the header at the front of `bytes`; a v2 header longer than
    /// `maximumLength` is invalid (its TLVs are skipped, never kept).
    public static func parse(_ bytes: UnsafeRawBufferPointer, maximumLength: Int = 4096) -> Parse {
        if bytes.starts(with: v2Signature.prefix(bytes.count)) {
            return bytes.count < v2FixedLength ? .needMore : parseV2(bytes, maximumLength: maximumLength)
        }
        if bytes.starts(with: v1Signature.prefix(bytes.count)) {
            return bytes.count < v1Signature.count ? .needMore : parseV1(bytes)
        }
        return .missing
    }

    // MARK: version 2

    static func parseV2(_ bytes: UnsafeRawBufferPointer, maximumLength: Int) -> Parse {
        let versionAndCommand = bytes[12]
        let familyAndTransport = bytes[13]
        let payloadLength = Int(bytes[14]) << 8 | Int(bytes[15])
        let length = v2FixedLength + payloadLength
        // "The highest four bits contains the version. [...] this field must
        // always be emitted as 0x2 and the receiver must only accept this
        // value as valid for this version of the protocol." (§2.2)
        guard versionAndCommand >> 4 == 0x2 else { return .invalid("PROXY v2 version \(versionAndCommand >> 4), not 2") }
        let command = versionAndCommand & 0x0F
        // "Other values are unassigned and must not be emitted by senders.
        // Receivers must drop connections presenting unexpected values here."
        guard command <= 1 else { return .invalid("PROXY v2 command \(command) is neither LOCAL (0) nor PROXY (1)") }
        guard length <= maximumLength else { return .invalid("PROXY v2 header of \(length) bytes exceeds \(maximumLength)") }
        guard bytes.count >= length else { return .needMore }
        let family = familyAndTransport >> 4
        let transport = familyAndTransport & 0x0F
        guard family <= 3, transport <= 2 else {
            return .invalid("PROXY v2 address family/transport 0x\(String(familyAndTransport, radix: 16)) is unassigned")
        }
        // LOCAL: "the receiver must accept this connection as valid and must
        // use the real connection endpoints and discard the protocol block
        // including the family which is ignored."
        guard command == 1, transport == 1, family == 1 || family == 2 else {
            return .header(ProxyHeader(length: length, version: 2, source: nil, destination: nil))
        }
        let addressLength = family == 1 ? 4 : 16
        guard payloadLength >= 2 * addressLength + 4 else {
            return .invalid("PROXY v2 \(family == 1 ? "TCP4" : "TCP6") block of \(payloadLength) bytes is too short for its addresses")
        }
        let addresses = bytes[v2FixedLength...]
        let source = addresses.prefix(addressLength)
        let destination = addresses.dropFirst(addressLength).prefix(addressLength)
        let ports = addresses.dropFirst(2 * addressLength)
        let sourcePort = UInt16(ports[ports.startIndex]) << 8 | UInt16(ports[ports.startIndex + 1])
        let destinationPort = UInt16(ports[ports.startIndex + 2]) << 8 | UInt16(ports[ports.startIndex + 3])
        return .header(ProxyHeader(length: length, version: 2,
                                   source: SocketAddress(addressBytes: source, port: sourcePort),
                                   destination: SocketAddress(addressBytes: destination, port: destinationPort)))
    }

    // MARK: version 1

    static func parseV1(_ bytes: UnsafeRawBufferPointer) -> Parse {
        let window = bytes.prefix(maximumV1Length)
        guard let lineFeed = window.firstIndex(of: 0x0A) else {
            return bytes.count >= maximumV1Length ? .invalid("PROXY v1 line longer than 107 bytes") : .needMore
        }
        guard lineFeed > 0, bytes[lineFeed - 1] == 0x0D else { return .invalid("PROXY v1 line does not end with CRLF") }
        let line = String(decoding: bytes[v1Signature.count..<(lineFeed - 1)], as: UTF8.self)
        let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        let length = lineFeed + 1
        // "UNKNOWN: [...] the receiver must ignore anything presented before
        // the CRLF is found."
        if fields.first == "UNKNOWN" { return .header(ProxyHeader(length: length, version: 1, source: nil, destination: nil)) }
        guard fields.count == 5, fields[0] == "TCP4" || fields[0] == "TCP6" else {
            return .invalid("PROXY v1 line is not 'TCP4|TCP6 SOURCE DESTINATION SPORT DPORT' or 'UNKNOWN'")
        }
        let isIPv6 = fields[0] == "TCP6"
        guard let sourcePort = port(fields[3]), let destinationPort = port(fields[4]),
              let source = try? SocketAddress(ip: fields[1], port: sourcePort),
              let destination = try? SocketAddress(ip: fields[2], port: destinationPort),
              source.isIPv6 == isIPv6, destination.isIPv6 == isIPv6, !fields[1].hasPrefix("["), !fields[2].hasPrefix("[")
        else {
            return .invalid("PROXY v1 addresses or ports are malformed for \(fields[0])")
        }
        return .header(ProxyHeader(length: length, version: 1, source: source, destination: destination))
    }

    /// A decimal port 0...65535 without a sign or leading zeros.
    private static func port(_ text: String) -> UInt16? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), text == "0" || !text.hasPrefix("0") else { return nil }
        return UInt16(text)
    }
}
