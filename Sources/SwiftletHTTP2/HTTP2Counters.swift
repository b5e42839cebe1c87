/// Counters shared by the HTTP/2 connections of one loop (loop-confined).
///
/// Every rejection is counted under its stable token, so an operator can
/// see which rule peers break (`rejections["rapid_reset"]`).
public final class HTTP2Counters {
    public private(set) var rejections: [String: Int] = [:]
    public internal(set) var connections = 0
    public internal(set) var streams = 0
    public internal(set) var refusedStreams = 0
    public internal(set) var connectionErrors = 0
    public internal(set) var streamErrors = 0

    public init() {}

    func count(_ rejection: Rejection) {
        rejections[rejection.token, default: 0] += 1
    }

    /// How often `token` was rejected.
    public func rejections(_ token: String) -> Int { rejections[token] ?? 0 }
}
