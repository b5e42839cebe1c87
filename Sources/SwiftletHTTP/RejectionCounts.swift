/// What peers did wrong, and what ended connections without anyone doing
/// wrong, counted by stable token: one shape for HTTP/1.1 and HTTP/2, so an
/// operator reads both the same way (`Server.rejectionCounts()`).
public struct RejectionCounts: Equatable, Sendable {
    /// Broken rules, by token (HTTP/2: `Violation`; HTTP/1.1: `h1_…`).
    public private(set) var rejections: [String: Int] = [:]
    /// Timeouts and other ends that are nobody's fault, by token.
    public private(set) var events: [String: Int] = [:]

    public init() {}

    public mutating func reject(_ token: String) { rejections[token, default: 0] += 1 }
    public mutating func record(_ event: String) { events[event, default: 0] += 1 }
}
