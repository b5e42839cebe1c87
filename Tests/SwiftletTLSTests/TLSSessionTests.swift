import CTLSTestSupport
import Foundation
import Glibc
import SwiftletLoop
import Testing
@testable import SwiftletTLS

/// Certificates made once per test run in a temporary directory, removed
/// when the test process exits.
enum Certificates {
    static let directory: String = {
        var template = Array("/tmp/swiftlet-tls-tests-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        atexit { try? FileManager.default.removeItem(atPath: Certificates.directory) }
        return path
    }()

    static let made = Locked<Set<String>>([])

    /// Makes (once) a certificate and key for `name`, returning their paths.
    /// Tests run in parallel: one lock for all of them.
    static func make(_ name: String, file: String? = nil, notBefore: Int = -3600, notAfter: Int = 86_400,
                     rsa: Bool = false) -> TLSConfiguration.Certificate {
        let base = "\(directory)/\(file ?? name)"
        let certificate = TLSConfiguration.Certificate(certificatePath: base + ".pem", keyPath: base + ".key")
        made.withLock { made in
            guard !made.contains(base) else { return }
            let result = tlstest_make_certificate(certificate.certificatePath, certificate.keyPath, name,
                                                  notBefore, notAfter, rsa)
            precondition(result == 0, "cannot make a test certificate")
            made.insert(base)
        }
        return certificate
    }

    static var localhost: TLSConfiguration.Certificate { make("localhost") }
}

/// One server session and one client, joined by memory: each `pump` moves
/// the client's bytes through the server's transport and back.
final class Pair {
    let session: TLSSession
    let wire = SendQueue(pool: BufferPool(blockSize: 16 * 1024, maximumFree: 16))
    let plaintext: ReceiveRing
    let client: OpaquePointer
    var lastStatus = TransportEvent.Status.ok
    var sawEstablished = false
    /// Every byte the server sent, for record-level assertions.
    var serverBytes: [UInt8] = []

    init(_ context: TLSContext, alpn: String? = "h2,http/1.1", serverName: String? = nil, version: Int32 = 0,
         ciphers: String? = nil, session resume: UnsafeMutableRawPointer? = nil) throws {
        session = try #require(context.makeSession())
        plaintext = try ReceiveRing(capacity: 256 * 1024)
        client = tlstest_client_new(alpn, serverName, version, ciphers, resume)
        session.attach(wire: wire)
    }

    deinit { tlstest_client_free(client) }

    /// Moves bytes both ways until neither side has any; true when the
    /// client finished its handshake.
    @discardableResult
    func pump() -> Bool {
        var done = false
        for _ in 0..<50 {
            var moved = false
            if tlstest_client_handshake(client) == 1 { done = true }
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            let count = tlstest_client_drain(client, &buffer, buffer.count)
            if count > 0 {
                moved = true
                buffer.withUnsafeBytes { bytes in
                    var offset = 0
                    while offset < count {
                        let event = session.receive(UnsafeRawBufferPointer(rebasing: bytes[offset..<count]), into: plaintext)
                        if event.status == .established { sawEstablished = true }
                        if event.status != .ok && event.status != .established { lastStatus = event.status }
                        offset += event.consumed
                        if event.consumed == 0 { break }
                    }
                }
            }
            while let region = wire.firstRegion {
                moved = true
                serverBytes.append(contentsOf: region)
                tlstest_client_feed(client, region.baseAddress, region.count)
                wire.advance(by: region.count)
            }
            if !moved { break }
        }
        return done
    }

    /// The client's decrypted application data so far.
    func clientRead() -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = tlstest_client_read(client, &buffer, buffer.count)
            guard count > 0 else { break }
            result += buffer[0..<count]
        }
        return result
    }

    var alpn: String {
        var buffer = [CChar](repeating: 0, count: 64)
        tlstest_client_alpn(client, &buffer, buffer.count)
        return String(cBuffer: buffer)
    }

    var peerName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        tlstest_client_peer_name(client, &buffer, buffer.count)
        return String(cBuffer: buffer)
    }

    var version: String { String(cString: tlstest_client_version(client)) }
    var peerKeyType: String { String(cString: tlstest_client_peer_key_type(client)) }
    var resumed: Bool { tlstest_client_resumed(client) }
}

@Suite struct TLSHandshakeTests {
    let context: TLSContext

    init() throws {
        context = try TLSContext(configuration: TLSConfiguration(certificates: [Certificates.localhost]))
    }

    @Test func tls13HandshakeNegotiatesH2AndCarriesDataBothWays() throws {
        let pair = try Pair(context)
        #expect(pair.pump())
        #expect(pair.sawEstablished)
        #expect(pair.session.isEstablished)
        #expect(pair.version == "TLSv1.3")
        #expect(pair.alpn == "h2")
        #expect(pair.session.applicationProtocol == "h2")
        #expect(!pair.session.cipherProhibitedForHTTP2)

        let request = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
        #expect(tlstest_client_write(pair.client, request, request.count) == 0)
        pair.pump()
        #expect(Array(pair.plaintext.readable) == request)

        let plaintext = SendQueue(pool: BufferPool(blockSize: 16 * 1024, maximumFree: 16))
        let body = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        body.withUnsafeBytes { plaintext.append(copying: $0) }
        pair.session.encrypt(plaintext)
        #expect(plaintext.isEmpty)
        pair.pump()
        #expect(pair.clientRead() == body)
    }

    @Test func smallWritesOfOneFlushBecomeOneRecord() throws {
        let pair = try Pair(context)
        pair.pump()
        _ = pair.clientRead()  // the session tickets
        pair.serverBytes.removeAll()
        let plaintext = SendQueue(pool: BufferPool(blockSize: 16 * 1024, maximumFree: 16))
        for index in 0..<100 {
            let chunk = [UInt8](repeating: UInt8(index), count: 100)
            chunk.withUnsafeBytes { plaintext.append(copying: $0) }
        }
        pair.session.encrypt(plaintext)
        pair.pump()
        // TLS 1.3 record: 5-byte header + content + 1 type byte + 16-byte tag.
        #expect(pair.serverBytes.count == 10_000 + 22)
        #expect(pair.serverBytes[0] == 23)  // application_data
        #expect(pair.clientRead().count == 10_000)
    }

    @Test func largeRegionsAreCutIntoFullRecords() throws {
        let pair = try Pair(context)
        pair.pump()
        _ = pair.clientRead()
        pair.serverBytes.removeAll()
        let plaintext = SendQueue(pool: BufferPool(blockSize: 16 * 1024, maximumFree: 16))
        let body = [UInt8](repeating: 7, count: 3 * 16_384 + 100)
        body.withUnsafeBytes { plaintext.append(copying: $0) }
        pair.session.encrypt(plaintext)
        pair.pump()
        #expect(pair.serverBytes.count == body.count + 4 * 22)
        #expect(pair.clientRead() == body)
    }

    @Test func alpnFallsBackToHTTP1AndToNone() throws {
        let http1 = try Pair(context, alpn: "http/1.1")
        #expect(http1.pump())
        #expect(http1.session.applicationProtocol == "http/1.1")

        let none = try Pair(context, alpn: nil)
        #expect(none.pump())
        #expect(none.session.applicationProtocol == "")

        // No protocol in common: no ALPN answer, the handshake still succeeds.
        let unknown = try Pair(context, alpn: "spdy/3")
        #expect(unknown.pump())
        #expect(unknown.alpn == "")
    }

    @Test func tls12WorksAndTls11IsRefused() throws {
        let tls12 = try Pair(context, version: 12)
        #expect(tls12.pump())
        #expect(tls12.version == "TLSv1.2")
        #expect(!tls12.session.cipherProhibitedForHTTP2)

        // RFC 9113 §9.2: "Implementations of HTTP/2 MUST use TLS version 1.2 or higher."
        let tls11 = try Pair(context, version: 11)
        #expect(!tls11.pump())
        guard case .failed(let reason) = tls11.lastStatus else {
            Issue.record("TLS 1.1 was not refused: \(tls11.lastStatus)")
            return
        }
        #expect(reason.contains("unsupported protocol"))
    }

    @Test func plainHTTPGetsAPlainAnswer() throws {
        let pair = try Pair(context)
        let request = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        let event = request.withUnsafeBytes { pair.session.receive($0, into: pair.plaintext) }
        guard case .failed = event.status else {
            Issue.record("plain HTTP was accepted: \(event.status)")
            return
        }
        var answer: [UInt8] = []
        while let region = pair.wire.firstRegion {
            answer += region
            pair.wire.advance(by: region.count)
        }
        #expect(String(decoding: answer, as: UTF8.self).hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
    }

    @Test func closeNotifyBothWays() throws {
        let pair = try Pair(context)
        pair.pump()
        _ = pair.clientRead()
        pair.session.shutdown()
        pair.pump()
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(tlstest_client_read(pair.client, &buffer, buffer.count) == -2)

        let other = try Pair(context)
        other.pump()
        tlstest_client_shutdown(other.client)
        other.pump()
        #expect(other.lastStatus == .closed)
    }
}

@Suite struct TLSCipherTests {
    @Test func prohibitedTls12SuitePrefersHTTP1AndFlagsH2() throws {
        var configuration = TLSConfiguration(certificates: [Certificates.make("rsa.test", rsa: true)])
        configuration.cipherList = "AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256"
        let context = try TLSContext(configuration: configuration)

        // A client that can fall back gets http/1.1 with the weak suite.
        let both = try Pair(context, version: 12, ciphers: "AES128-SHA")
        #expect(both.pump())
        #expect(both.session.applicationProtocol == "http/1.1")
        #expect(both.session.cipherProhibitedForHTTP2)

        // A client offering only h2 gets it; the server then answers with
        // INADEQUATE_SECURITY (the server test covers that part).
        let h2Only = try Pair(context, alpn: "h2", version: 12, ciphers: "AES128-SHA")
        #expect(h2Only.pump())
        #expect(h2Only.session.applicationProtocol == "h2")
        #expect(h2Only.session.cipherProhibitedForHTTP2)

        // A good suite: h2, not prohibited.
        let good = try Pair(context, version: 12, ciphers: "ECDHE-RSA-AES128-GCM-SHA256")
        #expect(good.pump())
        #expect(good.session.applicationProtocol == "h2")
        #expect(!good.session.cipherProhibitedForHTTP2)
    }

    @Test func defaultCipherListRefusesWeakSuites() throws {
        let context = try TLSContext(configuration: TLSConfiguration(certificates: [Certificates.make("rsa.test", rsa: true)]))
        let weak = try Pair(context, version: 12, ciphers: "AES128-SHA")
        #expect(!weak.pump())
        guard case .failed(let reason) = weak.lastStatus else {
            Issue.record("a weak suite was accepted")
            return
        }
        #expect(reason.contains("no shared cipher"))
    }
}

@Suite struct TLSCertificateSelectionTests {
    @Test func sniChoosesTheCertificateAndUnknownNamesGetTheFirst() throws {
        let context = try TLSContext(configuration: TLSConfiguration(certificates: [
            Certificates.make("a.test"), Certificates.make("b.test"),
        ]))
        #expect(context.names == "a.test, b.test")
        let b = try Pair(context, serverName: "b.test")
        #expect(b.pump())
        #expect(b.peerName == "b.test")
        let unknown = try Pair(context, serverName: "c.test")
        #expect(unknown.pump())
        #expect(unknown.peerName == "a.test")
        let none = try Pair(context)
        #expect(none.pump())
        #expect(none.peerName == "a.test")
    }

    @Test func rsaAndEcdsaCertificatesShareOneName() throws {
        let context = try TLSContext(configuration: TLSConfiguration(certificates: [
            Certificates.make("dual.test", file: "dual-ec"), Certificates.make("dual.test", file: "dual-rsa", rsa: true),
        ]))
        let rsa = try Pair(context, version: 12, ciphers: "ECDHE-RSA-AES128-GCM-SHA256")
        #expect(rsa.pump())
        #expect(rsa.peerKeyType == "RSA")
        let ec = try Pair(context, version: 12, ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256")
        #expect(ec.pump())
        #expect(ec.peerKeyType == "EC")
    }
}

@Suite struct TLSConfigurationErrorTests {
    func error(_ certificates: [TLSConfiguration.Certificate], ciphers: String? = nil) -> String {
        var configuration = TLSConfiguration(certificates: certificates)
        configuration.cipherList = ciphers
        do {
            _ = try TLSContext(configuration: configuration)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func everyProblemNamesTheFile() {
        let good = Certificates.localhost
        let missing = TLSConfiguration.Certificate(certificatePath: "/nonexistent/cert.pem", keyPath: good.keyPath)
        #expect(error([missing]) == "cannot read certificate file /nonexistent/cert.pem: No such file or directory")

        let missingKey = TLSConfiguration.Certificate(certificatePath: good.certificatePath, keyPath: "/nonexistent/key.pem")
        #expect(error([missingKey]) == "cannot read key file /nonexistent/key.pem: No such file or directory")

        let other = Certificates.make("other.test")
        let mismatch = TLSConfiguration.Certificate(certificatePath: good.certificatePath, keyPath: other.keyPath)
        #expect(error([mismatch]) == "private key \(other.keyPath) does not match certificate \(good.certificatePath)")

        let swapped = TLSConfiguration.Certificate(certificatePath: good.keyPath, keyPath: good.certificatePath)
        #expect(error([swapped]).hasPrefix("no PEM certificate in \(good.keyPath)"))

        let keyIsCertificate = TLSConfiguration.Certificate(certificatePath: good.certificatePath, keyPath: good.certificatePath)
        #expect(error([keyIsCertificate]).hasPrefix("no usable PEM private key (unencrypted) in \(good.certificatePath)"))

        let expired = Certificates.make("expired.test", notBefore: -86_400 * 10, notAfter: -86_400)
        #expect(error([expired]).hasPrefix("certificate \(expired.certificatePath) expired on "))

        let future = Certificates.make("future.test", notBefore: 86_400, notAfter: 86_400 * 10)
        #expect(error([future]) == "certificate \(future.certificatePath) is not valid yet")

        #expect(error([]) == "no certificate given")
        #expect(error([good], ciphers: "NOT-A-CIPHER").hasPrefix("invalid TLS cipher list NOT-A-CIPHER"))
    }
}

@Suite struct TLSResumptionTests {
    func resume(_ context: TLSContext, version: Int32, noTicket: Bool = false,
                between: () throws -> Void = {}) throws -> Bool {
        let first = try Pair(context, version: version)
        #expect(first.pump())
        _ = first.clientRead()  // TLS 1.3 tickets arrive after the handshake
        first.pump()
        let session = try #require(tlstest_client_take_session(first.client))
        defer { tlstest_session_free(session) }
        try between()
        let second = try Pair(context, version: version, session: session)
        #expect(second.pump())
        #expect(second.resumed == second.session.resumed)
        return second.resumed
    }

    @Test func tls12AndTls13SessionsResume() throws {
        let context = try TLSContext(configuration: TLSConfiguration(certificates: [Certificates.localhost]))
        #expect(try resume(context, version: 12))
        #expect(try resume(context, version: 13))
    }

    @Test func ticketKeysRotateAndExpire() throws {
        var configuration = TLSConfiguration(certificates: [Certificates.localhost])
        configuration.ticketKeyRotation = .seconds(600)
        let context = try TLSContext(configuration: configuration)
        // One rotation later the old key still decrypts (and the ticket is renewed).
        let afterOne = try resume(context, version: 13) { context.advanceTicketKeyClock(by: .seconds(601)) }
        #expect(afterOne)
        // Three rotations later it has fallen off the ring.
        let afterThree = try resume(context, version: 13) {
            for _ in 0..<3 {
                context.advanceTicketKeyClock(by: .seconds(601))
                // A handshake makes the rotation happen.
                let pair = try Pair(context, version: 13)
                pair.pump()
            }
        }
        #expect(!afterThree)
    }

    @Test func reloadSwapsCertificatesAndKeepsTicketKeys() throws {
        let directory = Certificates.directory
        let live = TLSConfiguration.Certificate(certificatePath: directory + "/live.pem", keyPath: directory + "/live.key")
        #expect(tlstest_make_certificate(live.certificatePath, live.keyPath, "before.test", -60, 86_400, false) == 0)
        let context = try TLSContext(configuration: TLSConfiguration(certificates: [live]))
        let before = try Pair(context)
        before.pump()
        #expect(before.peerName == "before.test")

        var made: Int32 = -1
        let resumedAcrossReload = try resume(context, version: 13) {
            made = tlstest_make_certificate(live.certificatePath, live.keyPath, "after.test", -60, 86_400, false)
            try context.reload()
        }
        #expect(made == 0)
        #expect(resumedAcrossReload)
        let after = try Pair(context)
        after.pump()
        #expect(after.peerName == "after.test")

        // A broken file: reload throws and the last good certificates stay.
        let file = fopen(live.certificatePath, "w")
        fputs("garbage\n", file)
        fclose(file)
        #expect(throws: TLSConfigurationError.self) { try context.reload() }
        let still = try Pair(context)
        still.pump()
        #expect(still.peerName == "after.test")
    }
}
