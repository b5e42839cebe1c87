import SwiftletHTTP

/// Counters shared by the HTTP/2 connections of one loop (loop-confined).
///
/// Every rejection is counted under its stable token, so an operator can
/// see which rule peers break (`rejections["rapid_reset"]`).
public final class HTTP2Counters {
    var counts = RejectionCounts()
    var connectionCount = 0
    var streamCount = 0
    var refusedStreamCount = 0
    var connectionErrorCount = 0
    var streamErrorCount = 0
    var requestDrainResetCount = 0
    // Stored counters are internal (see SwiftletLoop's Connection for why).
    public var rejections: [String: Int] { counts.rejections }
    /// Connections ended without a rule broken, by `ConnectionEvent` token.
    public var events: [String: Int] { counts.events }
    public var connections: Int { connectionCount }
    public var streams: Int { streamCount }
    public var refusedStreams: Int { refusedStreamCount }
    public var connectionErrors: Int { connectionErrorCount }
    public var streamErrors: Int { streamErrorCount }
    /// Requests still arriving after their complete response whose drain
    /// ended (time or stream window) with RST_STREAM(NO_ERROR).
    public var requestDrainResets: Int { requestDrainResetCount }

    public init() {}

    func count(_ rejection: Rejection) {
        counts.reject(rejection.token)
    }

    func count(_ event: ConnectionEvent) {
        counts.record(event.rawValue)
    }

    /// How often `token` was rejected.
    public func rejections(_ token: String) -> Int { counts.rejections[token] ?? 0 }
}
