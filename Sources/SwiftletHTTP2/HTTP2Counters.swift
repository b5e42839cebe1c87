/// Counters shared by the HTTP/2 connections of one loop (loop-confined).
///
/// Every rejection is counted under its stable token, so an operator can
/// see which rule peers break (`rejections["rapid_reset"]`).
public final class HTTP2Counters {
    var rejectionCounts: [String: Int] = [:]
    var eventCounts: [String: Int] = [:]
    var connectionCount = 0
    var streamCount = 0
    var refusedStreamCount = 0
    var connectionErrorCount = 0
    var streamErrorCount = 0
    var requestDrainResetCount = 0
    // Stored counters are internal (see SwiftletLoop's Connection for why).
    public var rejections: [String: Int] { rejectionCounts }
    /// Connections ended without a rule broken, by `ConnectionEvent` token.
    public var events: [String: Int] { eventCounts }
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
        rejectionCounts[rejection.token, default: 0] += 1
    }

    func count(_ event: ConnectionEvent) {
        eventCounts[event.rawValue, default: 0] += 1
    }

    /// How often `token` was rejected.
    public func rejections(_ token: String) -> Int { rejectionCounts[token] ?? 0 }
}
