import SwiftletLoop
import SwiftletTLS

/// The first handler of a connection accepted behind a load balancer that
/// speaks the PROXY protocol (`ServerConfiguration.proxyProtocol`): reads
/// the header (`ProxyHeader`), takes the client address from it, then hands
/// the connection on as if it had just been accepted: to TLS, if the server
/// serves TLS, and to the protocol selector.
///
/// A connection that does not start with a valid header is closed at once,
/// without a byte of reply: counted under `proxy_header_missing` (it starts
/// with something else: a client that bypassed the proxy),
/// `proxy_header_invalid` (malformed) or `proxy_header_timeout` (nothing
/// complete within the first-bytes timeout).
final class ProxyHeaderReader: ConnectionHandler, TimerTarget {
    unowned(unsafe) let context: LoopContext  // the loop context outlives its connections
    unowned(unsafe) let connection: Connection  // it owns the reader until the selector replaces it
    var timer: TimerID?

    /// Whether the loop context still counts this connection as choosing
    /// its protocol (a graceful drain waits for it, as for the selector).
    private var counted = true

    init(context: LoopContext, connection: Connection, timeout: Duration) {
        self.context = context
        self.connection = connection
        timer = context.loop.timers.schedule(at: context.loop.now &+ timeout.nanoseconds, target: self)
        context.selectorStarted()
    }

    private func stopCounting() {
        guard counted else { return }
        counted = false
        context.selectorEnded()
    }

    func connectionDidReceive(_ connection: Connection) {
        switch ProxyHeader.parse(connection.input) {
        case .needMore:
            return
        case .missing:
            refuse("proxy_header_missing", "the connection does not start with a PROXY protocol header")
        case .invalid(let reason):
            refuse("proxy_header_invalid", reason)
        case .header(let header):
            cancelTimer()
            connection.consume(header.length)
            if let source = header.source { connection.remoteAddress = source }
            context.accepted(connection, afterPreamble: true)  // the selector counts it from here
            stopCounting()
        }
    }

    private func refuse(_ token: String, _ reason: String) {
        cancelTimer()
        context.countTransportRejection(token)
        context.logger.debug("connection refused: \(reason)", metadata: ["peer": "\(connection.remoteAddress?.description ?? "-")"])
        connection.close(.immediately)
    }

    private func cancelTimer() {
        if let timer { context.loop.timers.cancel(timer) }
        timer = nil
    }

    func connectionDidClose(_ connection: Connection, reason: CloseReason) {
        cancelTimer()
        stopCounting()
    }

    func timerFired(_ id: TimerID, tag: UInt64) {
        guard id == timer else { return }
        timer = nil
        context.countTransportRejection("proxy_header_timeout")
        connection.close(.immediately)
    }
}
