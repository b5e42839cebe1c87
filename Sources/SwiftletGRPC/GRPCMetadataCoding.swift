import GRPCCore
import HTTPTypes

/// gRPC metadata as HTTP/2 fields (gRPC over HTTP/2, "Custom-Metadata"):
/// names are lowercase; a name ending in `-bin` carries binary values,
/// base64-encoded on the wire ("Implementations MUST accept padded and
/// un-padded values and should emit un-padded values"); other values are
/// ASCII strings.
enum GRPCMetadataCoding {
    /// Request fields that are the transport's, not the application's.
    static func isTransportField(_ name: HTTPField.Name) -> Bool {
        switch name.canonicalName {
        case "content-type", "te", "grpc-encoding", "grpc-accept-encoding": true
        default: false
        }
    }

    /// The request's metadata (`grpc-timeout` included: the server core
    /// reads the deadline from it). Throws the name of a `-bin` field whose
    /// value is not base64.
    static func metadata(from fields: HTTPFields) throws(InvalidBinaryValue) -> Metadata {
        var metadata = Metadata()
        for field in fields where !isTransportField(field.name) {
            let name = field.name.canonicalName
            if name.hasSuffix("-bin") {
                guard let bytes = Base64.decode(field.value) else { throw InvalidBinaryValue(name: name) }
                metadata.addBinary(bytes, forKey: name)
            } else {
                metadata.addString(field.value, forKey: name)
            }
        }
        return metadata
    }

    struct InvalidBinaryValue: Error {
        let name: String
    }

    /// Appends `metadata` to response fields (a head or trailers); a key
    /// that is not a valid field name is left out.
    static func append(_ metadata: Metadata, to fields: inout HTTPFields) {
        for (key, value) in metadata {
            guard let name = HTTPField.Name(key.lowercased()) else { continue }
            switch value {
            case .string(let string): fields.append(HTTPField(name: name, value: string))
            case .binary(let bytes): fields.append(HTTPField(name: name, value: Base64.encode(bytes)))
            }
        }
    }

    /// "Percent-Encoded": `grpc-message` is "Percent-Byte-Unencoded /
    /// Percent-Byte-Encoded", where unencoded bytes are 0x20–0x7E except
    /// "%", and every other byte of the UTF-8 message is `%XX`.
    static func percentEncoded(_ message: String) -> String {
        var encoded: [UInt8] = []
        encoded.reserveCapacity(message.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in message.utf8 {
            if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
                encoded.append(byte)
            } else {
                encoded += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: encoded, as: UTF8.self)
    }
}

/// RFC 4648 §4 base64, decoding padded and unpadded text (what gRPC's
/// binary metadata allows) and encoding unpadded.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, symbol) in alphabet.enumerated() { table[Int(symbol)] = UInt8(index) }
        return table
    }()

    static func encode(_ bytes: [UInt8]) -> String {
        var text: [UInt8] = []
        text.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let count = min(3, bytes.count - index)
            var group = UInt32(bytes[index]) << 16
            if count > 1 { group |= UInt32(bytes[index + 1]) << 8 }
            if count > 2 { group |= UInt32(bytes[index + 2]) }
            for position in 0...count { text.append(alphabet[Int(group >> (18 - 6 * UInt32(position)) & 63)]) }
            index += 3
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// nil for a character outside the alphabet, misplaced padding, or a
    /// length no encoding has.
    static func decode(_ text: String) -> [UInt8]? {
        var symbols = Array(text.utf8)
        if symbols.count % 4 == 0 {
            if symbols.last == UInt8(ascii: "=") { symbols.removeLast() }
            if symbols.last == UInt8(ascii: "=") { symbols.removeLast() }
        }
        guard symbols.count % 4 != 1 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(symbols.count * 3 / 4)
        var group: UInt32 = 0
        var bits = 0
        for symbol in symbols {
            let value = values[Int(symbol)]
            guard value != 0xFF else { return nil }
            group = group << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8(truncatingIfNeeded: group >> UInt32(bits)))
            }
        }
        return bytes
    }
}
