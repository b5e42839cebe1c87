/// TLS settings of a server.
public struct TLSConfiguration: Sendable, Equatable {
    public struct Certificate: Sendable, Equatable {
        /// PEM certificate chain (leaf first).
        public var certificatePath: String
        /// PEM private key of the leaf.
        public var keyPath: String

        public init(certificatePath: String, keyPath: String) {
            self.certificatePath = certificatePath
            self.keyPath = keyPath
        }
    }

    /// Certificate and key pairs. The first is the default; others are chosen
    /// by SNI from their names (SAN DNS entries, else CN). Pairs with the same
    /// names share a host, so an RSA and an ECDSA certificate can both serve it.
    public var certificates: [Certificate]
    /// TLS 1.2 cipher list (OpenSSL syntax); nil: ephemeral key exchange with
    /// AEAD ciphers only, so nothing RFC 9113 §9.2.2 prohibits is negotiated.
    public var cipherList: String?
    /// How often a new session-ticket key is made (older keys still decrypt
    /// for two more periods).
    public var ticketKeyRotation: Duration = .seconds(3600)
    /// The handshake (and the HTTP/2 preface) must finish within this.
    public var handshakeTimeout: Duration = .seconds(10)

    public init(certificates: [Certificate]) {
        self.certificates = certificates
    }
}

/// A TLS configuration that cannot be used, with a message naming the file
/// and what is wrong with it.
public struct TLSConfigurationError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension String {
    /// The text of a NUL-terminated C buffer OpenSSL or our C shim filled.
    init(cBuffer: [CChar]) {
        let bytes = cBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        self.init(decoding: bytes, as: UTF8.self)
    }
}
