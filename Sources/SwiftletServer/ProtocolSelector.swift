import SwiftletHTTP
import SwiftletHTTP2
import SwiftletLoop
import SwiftletTLS

/// Decides what a new connection speaks, then hands it to that protocol.
///
/// - Over TLS, ALPN decides (RFC 9113 §3.2): "h2" is HTTP/2, "http/1.1" is
///   HTTP/1.1. The handshake and the first plaintext bytes must arrive
///   within the TLS handshake timeout.
/// - In cleartext (and over TLS without ALPN) the first bytes decide
///   (`FirstBytes`): the HTTP/2 connection preface means HTTP/2 with prior
///   knowledge (§3.3), an HTTP/1.x request line HTTP/1.1, and a first line
///   that is neither gets HTTP/2's GOAWAY for an invalid preface. They must arrive within the HTTP/1.1 head
///   timeout, so a connection that never speaks cannot be held open.
final class ProtocolSelector: ConnectionHandler, TimerTarget {
    unowned(unsafe) let context: LoopContext  // the loop context outlives its connections
    let session: TLSSession?
    unowned(unsafe) let connection: Connection  // it owns the selector until a protocol replaces it
    var timer: TimerID?

    init(context: LoopContext, connection: Connection, session: TLSSession?, timeout: Duration) {
        self.context = context
        self.connection = connection
        self.session = session
        timer = context.loop.timers.schedule(at: context.loop.now &+ timeout.nanoseconds, target: self)
        context.selectorStarted()
    }

    func connectionDidReceive(_ connection: Connection) {
        // Once a protocol took the connection (it is in the loop context's
        // tables by now), the context stops counting it as selecting.
        defer { if timer == nil { finishSelecting() } }
        if let session {
            switch session.applicationProtocol {
            case "h2":
                select()
                let http2 = context.startHTTP2(on: connection)
                if session.cipherProhibitedForHTTP2 {
                    // "An endpoint MAY choose to generate a connection error
                    // (Section 5.4.1) of type INADEQUATE_SECURITY if one of the
                    // prohibited cipher suites is negotiated." (§9.2.2) ALPN
                    // only picks h2 with such a suite when the client offered
                    // nothing else.
                    http2.refuse(Rejection(.prohibitedCipher,
                                           "TLS 1.2 cipher suite prohibited by RFC 9113 section 9.2.2"))
                    return
                }
                http2.connectionDidReceive(connection)
                return
            case "http/1.1":
                select()
                context.startHTTP1(on: connection, secure: true)
                return
            default:
                break  // no ALPN: sniff, as in cleartext
            }
        }
        let decision = FirstBytes.classify(connection.input)
        switch decision {
        case .needMore:
            return
        case .http2, .invalidPreface:
            // An invalid preface reaches HTTP/2, which answers it with GOAWAY.
            select()
            if session != nil { context.metrics?.tlsHandshakes += 1 }
            let http2 = context.startHTTP2(on: connection)
            http2.connectionDidReceive(connection)
        case .http1:
            select()
            if session != nil { context.metrics?.tlsHandshakes += 1 }
            context.startHTTP1(on: connection, secure: session != nil)
        }
    }

    private var finished = false

    private func select() {
        if let timer { context.loop.timers.cancel(timer) }
        timer = nil
    }

    /// The selector's work is over: a protocol took the connection, or it closed.
    private func finishSelecting() {
        guard !finished else { return }
        finished = true
        context.selectorEnded()
    }

    func connectionDidClose(_ connection: Connection, reason: CloseReason) {
        select()
        finishSelecting()
        if case .transportFailed(let detail) = reason {
            context.countTransportRejection("tls_handshake_failed")
            context.logger.debug("TLS handshake failed: \(detail)")
        }
    }

    func timerFired(_ id: TimerID, tag: UInt64) {
        guard id == timer else { return }
        timer = nil
        context.countTransportRejection(session == nil ? "first_bytes_timeout" : "tls_handshake_timeout")
        connection.close(.immediately)
    }
}
