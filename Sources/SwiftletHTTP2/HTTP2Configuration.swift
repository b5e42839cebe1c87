/// How an HTTP/2 connection behaves; shared by the connections of a server.
public struct HTTP2Configuration: Sendable {
    public var limits = Limits() {
        didSet { advertisedSettings = limits.advertisedSettings }
    }
    /// `limits.advertisedSettings`, built when the limits change rather
    /// than for every connection's preface.
    public private(set) var advertisedSettings = Limits().advertisedSettings
    /// Bytes of DATA one connection may generate per loop turn (fairness
    /// between connections).
    public var outputBudgetPerTurn = 256 * 1024
    /// Response body regions shorter than this are copied into the output;
    /// longer ones are referenced.
    public var dataCopyThreshold = 256
    /// Largest DATA frame we write (one TLS record's worth), capped by the
    /// peer's SETTINGS_MAX_FRAME_SIZE.
    public var maxDataFrameSize = 16_384
    /// Time to wait for the PING that follows the first GOAWAY of a graceful
    /// shutdown before sending the final GOAWAY.
    public var gracefulPingTimeout: Duration = .seconds(1)

    public init() {}
}
