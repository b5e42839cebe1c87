import CSwiftletSystem
import SwiftletLoop

/// TLS for one connection, as the connection's transport.
///
/// Wire bytes reach OpenSSL through a BIO that reads straight from the
/// connection's wire ring and writes every record straight into its wire
/// queue (no memory BIOs in between); `SSL_read` decrypts into the ring the
/// handler reads. On the way out the plaintext of one flush is coalesced into
/// as few 16 KiB records as possible: regions of 16 KiB and more are
/// encrypted where they lie (an `mmap`ed file slice, say), smaller ones are
/// gathered into one staging record first. The staging record is a block
/// of the loop's buffer pool, borrowed for the length of one `encrypt`, so
/// an idle session holds none.
public final class TLSSession: ConnectionTransport {
    static let recordSize = 16 * 1024

    let contexts: TLSContext.Contexts
    let ssl: OpaquePointer
    let io: UnsafeMutablePointer<swiftlet_tls_io>
    private var wire: SendQueue?
    private var established = false

    init?(contexts: TLSContext.Contexts) {
        self.contexts = contexts
        io = .allocate(capacity: 1)
        io.initialize(to: swiftlet_tls_io())
        guard let ssl = swiftlet_tls_session_new(contexts.pointer, io) else {
            io.deallocate()
            return nil
        }
        self.ssl = ssl
        swiftlet_tls_contexts_retain(contexts.pointer)
        io.pointee.write_context = Unmanaged.passUnretained(self).toOpaque()
        io.pointee.write = { context, bytes, length in
            let session = Unmanaged<TLSSession>.fromOpaque(context!).takeUnretainedValue()
            session.wire?.append(copying: UnsafeRawBufferPointer(start: bytes, count: length))
        }
    }

    deinit {
        SSL_free(ssl)
        swiftlet_tls_contexts_release(contexts.pointer)
        io.deallocate()
    }

    /// Whether the handshake finished.
    public var isEstablished: Bool { established }

    /// The protocol ALPN chose: "h2", "http/1.1", or "" (none: HTTP/1.1).
    public var applicationProtocol: String {
        var buffer = [CChar](repeating: 0, count: 32)
        swiftlet_tls_alpn(ssl, &buffer, buffer.count)
        return String(cBuffer: buffer)
    }

    /// RFC 9113 §9.2.2: a TLS 1.2 cipher suite HTTP/2 must not be used with.
    public var cipherProhibitedForHTTP2: Bool { swiftlet_tls_cipher_prohibited_for_http2(ssl) }

    /// The session was resumed (ticket or session cache).
    public var resumed: Bool { swiftlet_tls_session_reused(ssl) }

    public var securityDescription: (version: String, cipher: String)? {
        guard let cipher = SSL_get_current_cipher(ssl), let name = SSL_CIPHER_get_name(cipher),
              let version = SSL_get_version(ssl) else { return nil }
        return (String(cString: version), String(cString: name))
    }

    // MARK: ConnectionTransport

    public func attach(wire: SendQueue) { self.wire = wire }

    public func receive(_ input: UnsafeRawBufferPointer, into plaintext: ReceiveRing) -> TransportEvent {
        io.pointee.input = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        io.pointee.input_length = input.count
        io.pointee.input_used = 0
        defer {
            io.pointee.input = nil
            io.pointee.input_length = 0
        }
        var status = TransportEvent.Status.ok
        if !established {
            let result = SSL_do_handshake(ssl)
            if result != 1 {
                let error = SSL_get_error(ssl, result)
                if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE {
                    return TransportEvent(consumed: io.pointee.input_used, produced: 0, status: .ok)
                }
                let (reason, plainHTTP) = Self.reason(error)
                if plainHTTP {
                    // Plain HTTP sent to the TLS port: say so in plain HTTP
                    // rather than closing without a word.
                    Self.plainHTTPResponse.withUTF8Buffer { wire?.append(copying: UnsafeRawBufferPointer($0)) }
                }
                return TransportEvent(consumed: io.pointee.input_used, produced: 0, status: .failed(reason))
            }
            established = true
            status = .established
        }
        var produced = 0
        while true {
            let space = plaintext.writable
            guard space.count > 0 else { break }
            var read = 0
            let result = SSL_read_ex(ssl, space.baseAddress, space.count, &read)
            if result == 1 {
                plaintext.commit(read)
                produced += read
                continue
            }
            let error = SSL_get_error(ssl, Int32(result))
            if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { break }
            if error == SSL_ERROR_ZERO_RETURN {
                return TransportEvent(consumed: io.pointee.input_used, produced: produced, status: .closed)
            }
            return TransportEvent(consumed: io.pointee.input_used, produced: produced, status: .failed(Self.reason(error).0))
        }
        return TransportEvent(consumed: io.pointee.input_used, produced: produced, status: status)
    }

    public var hasPendingPlaintext: Bool { established && SSL_has_pending(ssl) == 1 }

    public func encrypt(_ plaintext: SendQueue) {
        guard established else { return }  // queued until the handshake is done
        // The staging record: a pool block when blocks are large enough, else
        // memory of its own for this call.
        let pool = plaintext.bufferPool
        let block = pool.blockSize >= Self.recordSize ? pool.acquire() : nil
        let staging = block.map { UnsafeMutableRawBufferPointer(start: $0.storage, count: Self.recordSize) }
            ?? UnsafeMutableRawBufferPointer.allocate(byteCount: Self.recordSize, alignment: 16)
        defer {
            if let block { pool.release(block) } else { staging.deallocate() }
        }
        var staged = 0
        while let region = plaintext.firstRegion {
            if region.count >= Self.recordSize && staged == 0 {
                // A large region: whole records straight from where it lies.
                let length = region.count - region.count % Self.recordSize
                var offset = 0
                while offset < length {
                    write(UnsafeRawBufferPointer(rebasing: region[offset..<offset + Self.recordSize]))
                    offset += Self.recordSize
                }
                plaintext.advance(by: length)
                continue
            }
            let take = min(region.count, Self.recordSize - staged)
            (staging.baseAddress! + staged).copyMemory(from: region.baseAddress!, byteCount: take)
            staged += take
            plaintext.advance(by: take)
            if staged == Self.recordSize {
                write(UnsafeRawBufferPointer(staging))
                staged = 0
            }
        }
        if staged > 0 { write(UnsafeRawBufferPointer(rebasing: staging[0..<staged])) }
    }

    private func write(_ bytes: UnsafeRawBufferPointer) {
        var written = 0
        while written < bytes.count {
            var count = 0
            let result = SSL_write_ex(ssl, bytes.baseAddress! + written, bytes.count - written, &count)
            guard result == 1 else { return }  // the connection fails on its next read
            written += count
        }
    }

    public func shutdown() {
        if established { SSL_shutdown(ssl) }
    }

    private static func reason(_ error: Int32) -> (String, plainHTTP: Bool) {
        var buffer = [CChar](repeating: 0, count: 256)
        let plainHTTP = swiftlet_tls_error(&buffer, buffer.count)
        let detail = String(cBuffer: buffer)
        switch error {
        case SSL_ERROR_SSL: return (detail, plainHTTP)
        case SSL_ERROR_SYSCALL: return ("TLS: unexpected end of data (\(detail))", false)
        default: return ("TLS error \(error): \(detail)", false)
        }
    }

    static let plainHTTPResponse: StaticString = """
        HTTP/1.1 400 Bad Request\r
        content-type: text/plain\r
        content-length: 45\r
        connection: close\r
        \r
        This port speaks HTTPS: use an https:// URL.

        """
}
