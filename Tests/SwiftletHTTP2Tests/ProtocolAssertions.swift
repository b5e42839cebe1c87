import SwiftletHTTP2
import SwiftletLoop
import SwiftletTestSupport
import Testing

extension TestServer {
    /// Sends `bytes` on a fresh connection (after the SETTINGS exchange
    /// unless `handshake` is false) and expects a connection error: GOAWAY
    /// with `code`, then the connection closes. The rejection's token must
    /// have been counted.
    func expectConnectionError(_ bytes: (FrameClient) -> [UInt8], code: ErrorCode, token: String,
                               handshake: Bool = true, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let client = handshake ? try self.client() : try rawClient()
        try client.send(bytes(client))
        let goAway = try client.expectGoAway()
        #expect(goAway.code == code, "GOAWAY code \(goAway.code), debug \"\(goAway.debug)\"", sourceLocation: sourceLocation)
        #expect(!goAway.debug.isEmpty || code == .noError, "a connection error carries a human reason", sourceLocation: sourceLocation)
        #expect(client.readsToEOF(), "the connection closes after GOAWAY", sourceLocation: sourceLocation)
        #expect(try rejections(token) >= 1, "rejection counted as \(token)", sourceLocation: sourceLocation)
    }

    /// Sends `bytes` and expects RST_STREAM on `stream` with `code`; the
    /// connection must stay usable (a PING is answered).
    func expectStreamError(_ bytes: (FrameClient) -> [UInt8], stream: UInt32, code: ErrorCode, token: String,
                           client existing: FrameClient? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let client = try existing ?? self.client()
        try client.send(bytes(client))
        let reset = try client.expectReset(stream: stream)
        #expect(reset == code, "RST_STREAM code \(reset)", sourceLocation: sourceLocation)
        try client.expectAlive(sourceLocation: sourceLocation)
        #expect(try rejections(token) >= 1, "rejection counted as \(token)", sourceLocation: sourceLocation)
    }
}

extension FrameClient {
    /// The connection still works: a PING comes back.
    func expectAlive(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let marker: UInt64 = 0xA11CE
        try send(Self.ping(marker))
        let (frame, skipped) = try read {
            if case .ping(true, marker) = $0 { return true }
            if case .goAway = $0 { return true }
            return false
        }
        #expect(frame == .ping(ack: true, payload: marker), "after \(skipped)", sourceLocation: sourceLocation)
    }

    /// Nothing but the listed kinds of frame arrives before the PING ACK:
    /// the server did not react to what was sent.
    func expectNoReaction(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let marker: UInt64 = 0xB0B
        try send(Self.ping(marker))
        let (_, skipped) = try read { $0 == .ping(ack: true, payload: marker) }
        let reactions = skipped.filter {
            switch $0 {
            case .rstStream, .goAway: true
            default: false
            }
        }
        #expect(reactions.isEmpty, "unexpected \(reactions)", sourceLocation: sourceLocation)
    }
}
