import SwiftletHTTP
import SwiftletHTTP2
import SwiftletLoop

/// Decides what a cleartext connection speaks from its first bytes: the
/// HTTP/2 connection preface means HTTP/2 with prior knowledge (RFC 9113
/// §3.3); anything else is HTTP/1.1, which may upgrade to h2c.
final class ProtocolSelector: ConnectionHandler {
    unowned(unsafe) let context: LoopContext  // the loop context outlives its connections

    init(context: LoopContext) { self.context = context }

    func connectionDidReceive(_ connection: Connection) {
        let input = connection.input
        let preface = ConnectionState.preface
        var matches = true
        for index in 0..<min(input.count, preface.count) where input[index] != preface[index] {
            matches = false
            break
        }
        if matches && input.count < preface.count { return }  // wait for more
        if matches {
            let http2 = context.startHTTP2(on: connection)
            http2.connectionDidReceive(connection)
        } else {
            context.startHTTP1(on: connection)
        }
    }

    func connectionDidClose(_ connection: Connection, reason: CloseReason) {}
}
