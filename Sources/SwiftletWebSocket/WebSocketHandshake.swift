import CSwiftletSystem

/// RFC 6455 §4.2.2: the server's answer to an opening handshake over
/// HTTP/1.1 carries `Sec-WebSocket-Accept`, the base64 of the SHA-1 of the
/// client's key followed by a fixed GUID. (Over HTTP/2, RFC 8441 §5 has
/// neither key nor accept: the extended CONNECT stream is the proof.)
public enum WebSocketHandshake {
    /// RFC 6455 §1.3.
    public static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    /// The one version this implements (§4.1: `Sec-WebSocket-Version: 13`).
    public static let version = "13"

    /// The `Sec-WebSocket-Accept` value for `key`.
    public static func accept(key: String) -> String {
        let input = Array((key + guid).utf8)
        var digest = [UInt8](repeating: 0, count: 20)
        var length: UInt32 = 0
        _ = input.withUnsafeBytes { bytes in
            EVP_Digest(bytes.baseAddress, bytes.count, &digest, &length, EVP_sha1(), nil)
        }
        var encoded = [UInt8](repeating: 0, count: 29)  // 4 * ceil(20 / 3) + NUL
        let written = EVP_EncodeBlock(&encoded, digest, 20)
        return String(decoding: encoded.prefix(Int(written)), as: UTF8.self)
    }

    /// Whether `key` is what §4.1 asks a client to send: "a randomly
    /// selected 16-byte value that has been base64-encoded" (24 characters,
    /// ending "==").
    public static func isValidKey(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        guard bytes.count == 24, bytes[22] == UInt8(ascii: "="), bytes[23] == UInt8(ascii: "=") else { return false }
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        // The last character before the padding carries 2 bits: A, Q, g or w.
        return bytes[0..<22].allSatisfy(alphabet.contains) && "AQgw".utf8.contains(bytes[21])
    }
}
