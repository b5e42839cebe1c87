import CSwiftletSystem
import SwiftletLoop

/// The server's certificates and TLS settings, shared by every loop.
///
/// OpenSSL contexts are thread-safe; a session takes a reference to the
/// context set current when it starts, so `reload` (on SIGHUP) swaps in new
/// certificates for new connections without disturbing open ones.
public final class TLSContext: Sendable {
    private let current: Locked<Contexts>
    public let configuration: TLSConfiguration

    /// One reference-counted OpenSSL context set.
    final class Contexts: @unchecked Sendable {  // an immutable OpenSSL object with atomic refcounts
        let pointer: OpaquePointer
        init(_ pointer: OpaquePointer) { self.pointer = pointer }
        deinit { swiftlet_tls_contexts_release(pointer) }
    }

    /// Loads the certificates; throws a message naming the file and the problem.
    public init(configuration: TLSConfiguration) throws {
        self.configuration = configuration
        current = Locked(try Self.load(configuration))
    }

    static func load(_ configuration: TLSConfiguration) throws -> Contexts {
        guard !configuration.certificates.isEmpty else { throw TLSConfigurationError("no certificate given") }
        var error = [CChar](repeating: 0, count: 512)
        guard let set = swiftlet_tls_contexts_new(configuration.cipherList, &error, error.count) else {
            throw TLSConfigurationError(String(cBuffer: error))
        }
        let contexts = Contexts(set)
        for certificate in configuration.certificates {
            guard swiftlet_tls_contexts_add(set, certificate.certificatePath, certificate.keyPath, &error, error.count) == 0 else {
                throw TLSConfigurationError(String(cBuffer: error))
            }
        }
        let rotation = UInt32(max(1, configuration.ticketKeyRotation.components.seconds))
        guard swiftlet_tls_contexts_finish(set, rotation, &error, error.count) == 0 else {
            throw TLSConfigurationError(String(cBuffer: error))
        }
        return contexts
    }

    /// Loads the certificate files again (they may have been replaced) and
    /// uses them for new connections. On error the old ones stay in use.
    public func reload() throws {
        let fresh = try Self.load(configuration)
        current.withLock { contexts in
            // The old contexts must outlive the copy of their ticket keys:
            // a raw pointer does not keep its object alive, and the
            // optimiser may release the old value as soon as it is replaced
            // (AddressSanitizer caught a use after free here).
            let old = contexts
            withExtendedLifetime((old, fresh)) {
                swiftlet_tls_contexts_inherit_ticket_keys(fresh.pointer, old.pointer)
            }
            contexts = fresh
        }
    }

    /// Moves the session-ticket key clock forward, so tests can see keys
    /// rotate without waiting.
    func advanceTicketKeyClock(by duration: Duration) {
        let contexts = current.withLock { $0 }
        withExtendedLifetime(contexts) {
            swiftlet_tls_contexts_advance_ticket_clock(contexts.pointer, Int(duration.components.seconds))
        }
    }

    /// The names served (for the start-up line and logs).
    public var names: String {
        let contexts = current.withLock { $0 }
        var buffer = [CChar](repeating: 0, count: 1024)
        withExtendedLifetime(contexts) { swiftlet_tls_contexts_describe(contexts.pointer, &buffer, buffer.count) }
        return String(cBuffer: buffer)
    }

    /// A session for one new connection.
    public func makeSession() -> TLSSession? {
        TLSSession(contexts: current.withLock { $0 })
    }
}
