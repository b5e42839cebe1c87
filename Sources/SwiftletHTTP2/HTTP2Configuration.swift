/// How an HTTP/2 connection behaves; shared by the connections of a server.
public struct HTTP2Configuration: Sendable {
    /// The limits, and the SETTINGS list of the preface built from them
    /// once, behind one reference: every connection's engine keeps a copy of
    /// its configuration, and `Limits` is a few hundred bytes. Replaced
    /// whole when the limits change (the fields are constants, so reading
    /// them needs no exclusivity check).
    private final class Storage: Sendable {
        let limits: Limits
        let advertisedSettings: [(SettingsParameter, UInt32)]

        init(_ limits: Limits) {
            self.limits = limits
            advertisedSettings = limits.advertisedSettings
        }

        /// Shared by every configuration left at the defaults.
        static let defaults = Storage(Limits())
    }
    private var storage = Storage.defaults

    public var limits: Limits {
        get { storage.limits }
        set { storage = Storage(newValue) }
    }
    /// `limits.advertisedSettings`, built when the limits change rather
    /// than for every connection's preface.
    public var advertisedSettings: [(SettingsParameter, UInt32)] { storage.advertisedSettings }
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
