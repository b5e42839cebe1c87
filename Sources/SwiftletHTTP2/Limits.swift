/// Every limit of an HTTP/2 connection, in one place. Each field names the
/// attack or resource exhaustion it bounds; the `swiftlet` flags map onto
/// these one to one (docs/flags.md), and docs/architecture.md has the table.
public struct Limits: Sendable, Equatable {
    // MARK: settings we advertise

    /// SETTINGS_MAX_CONCURRENT_STREAMS. Bounds work and memory per
    /// connection; HEADERS beyond it get RST_STREAM REFUSED_STREAM.
    public var maxConcurrentStreams = 100
    /// SETTINGS_INITIAL_WINDOW_SIZE: what a stream may send before its
    /// handler reads (bounds request bodies nobody asked for).
    public var initialStreamWindowSize = 65_535
    /// Stream receive window once its handler reads (raised by WINDOW_UPDATE):
    /// bounds the request body buffered for one stream.
    public var streamWindowSize = 1 << 20
    /// Connection receive window opened right after the preface: bounds all
    /// request body buffered for the connection.
    public var connectionWindowSize = 16 << 20
    /// SETTINGS_MAX_FRAME_SIZE: the largest frame we accept (FRAME_SIZE_ERROR
    /// beyond). Must fit the receive ring.
    public var maxFrameSize = 16_384
    /// SETTINGS_HEADER_TABLE_SIZE: HPACK decoder memory.
    public var headerTableSize = 4096
    /// SETTINGS_MAX_HEADER_LIST_SIZE: decoded header list (name + value + 32
    /// per field). Bounds HPACK bombs and oversized heads (COMPRESSION_ERROR).
    public var maxHeaderListSize = 64 * 1024
    /// Fields per header block (many tiny fields cost per field).
    public var maxHeaderFieldCount = 256
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3): advertise extended
    /// CONNECT, so clients may open a stream with `:protocol` (WebSockets
    /// over HTTP/2). Off unless a handler serves such streams; each is an
    /// ordinary stream, bounded by `maxConcurrentStreams` and the windows.
    public var enableConnectProtocol = false

    // MARK: floods

    /// PING and SETTINGS ACKs waiting to be written (ping and settings
    /// floods, CVE-2019-9512/9515): ENHANCE_YOUR_CALM beyond.
    public var maxQueuedControlFrames = 1000
    /// Output waiting for the socket above which the connection stops
    /// reading (a peer that floods requests but reads no responses,
    /// CVE-2019-9517).
    public var maxPendingOutput = 512 * 1024
    /// Close a connection whose pending output made no progress this long
    /// (a peer that never reads).
    public var writeTimeout: Duration = .seconds(60)
    /// Parameters in one SETTINGS frame (settings flood).
    public var maxSettingsPerFrame = 32
    /// Resets sent by the peer plus resets we send because of the peer
    /// (rapid reset CVE-2023-44487, MadeYouReset CVE-2025-8671): a token
    /// bucket; empty → GOAWAY ENHANCE_YOUR_CALM.
    public var resetBurst = 1000
    public var resetsPerSecond = 33
    /// New streams one connection may open per loop turn, as a multiple of
    /// maxConcurrentStreams (rapid reset): GOAWAY ENHANCE_YOUR_CALM beyond.
    public var newStreamsPerTurnFactor = 2
    /// Consecutive empty DATA frames without END_STREAM (empty-frame flood,
    /// CVE-2019-9518).
    public var maxConsecutiveEmptyData = 1
    /// DATA, HEADERS and CONTINUATION frames under `smallFrameSize` that do
    /// not end a stream: a token bucket (small-frame dribble).
    public var smallFrameSize = 128
    public var smallFrameBurst = 10_000
    public var smallFramesPerSecond = 1000
    /// Legal but suspicious frames (PRIORITY, PRIORITY_UPDATE, unknown types,
    /// frames on closed streams, stream errors): a token bucket (glitches,
    /// priority churn).
    public var glitchBurst = 1000
    public var glitchesPerSecond = 100
    /// PRIORITY_UPDATE entries kept for streams not yet open.
    public var maxPendingPriorityUpdates = 100
    /// Window dribble: a peer that keeps its flow-control windows a few
    /// bytes wide (tiny SETTINGS_INITIAL_WINDOW_SIZE, WINDOW_UPDATEs of a few
    /// bytes) makes the server write one tiny DATA frame per update, a
    /// whole frame's work per few bytes. A stream's first DATA frame the
    /// peer's window cuts below `minDataFrameSize` goes out at once (a peer
    /// may start with a small window); each later one is held back for
    /// `dribbleDelay` (a larger window may come meanwhile), so such a stream
    /// costs at most one tiny frame per delay, and draws on a token bucket:
    /// half spent → graceful GOAWAY, empty → GOAWAY ENHANCE_YOUR_CALM.
    public var minDataFrameSize = 1024
    public var dribbleDelay: Duration = .milliseconds(20)
    public var dribbleBurst = 200
    public var dribblesPerSecond = 10

    // MARK: timeouts (slowloris)

    /// Connection preface and first SETTINGS.
    public var prefaceTimeout: Duration = .seconds(10)
    /// Our SETTINGS must be acknowledged (SETTINGS_TIMEOUT beyond).
    public var settingsTimeout: Duration = .seconds(10)
    /// A header block started with HEADERS must be completed by CONTINUATION.
    public var headerBlockTimeout: Duration = .seconds(10)
    /// A connection with no open stream closes after this (GOAWAY NO_ERROR).
    public var idleTimeout: Duration = .seconds(60)
    /// A request still arriving after its complete response is drained
    /// (checked and discarded, no more stream window credit) at most this
    /// long, then reset with NO_ERROR (§8.1): bounds how long a peer that
    /// never ends its request holds a stream slot. Zero resets at once.
    public var requestDrainTimeout: Duration = .seconds(1)
    /// Of a request drained after its complete response, this many bytes
    /// earn the stream window credit again, so a modest upload the answer
    /// did not need (a 405 to a POST) finishes rather than being reset:
    /// Debian 12's curl 7.88 reports a RST_STREAM(NO_ERROR) that arrives
    /// while it uploads as a failed transfer. Bounds the bytes a peer can
    /// make us read and discard per answered request; beyond it the stream
    /// window runs out and the stream is reset with NO_ERROR. Zero gives
    /// no credit.
    public var requestDrainAllowance = 1 << 20

    // MARK: lifetime

    /// Requests per connection before a graceful GOAWAY (also sent before
    /// stream ids run out).
    public var maxRequestsPerConnection = 10_000

    public init() {}

    /// CONTINUATION frames allowed in one header block (CONTINUATION flood):
    /// max(⌈max header list / max frame size⌉ × 1.25, 5).
    public var maxContinuationFrames: Int {
        let frames = (maxHeaderListSize + maxFrameSize - 1) / maxFrameSize
        return max((frames * 5 + 3) / 4, 5)
    }

    /// Raw (still encoded) header block bytes allowed: 4 × the list limit.
    public var maxHeaderBlockBytes: Int { 4 * maxHeaderListSize }

    /// New streams per loop turn.
    public var maxNewStreamsPerTurn: Int { newStreamsPerTurnFactor * maxConcurrentStreams }
}

/// A token bucket on the loop's clock (so tests move time by hand). It
/// keeps only its level and the time it was last filled: its capacity and
/// rate are the caller's `Limits`, shared by every connection, so each of a
/// connection's buckets costs 16 bytes.
struct TokenBucket {
    private var tokens: Double
    private var last: UInt64

    /// A full bucket of `capacity` tokens at `now`.
    init(capacity: Int, now: UInt64) {
        tokens = Double(capacity)
        last = now
    }

    /// Refills for the time since the last call at `perSecond` tokens a
    /// second, up to `capacity`, and takes one token; false when the bucket
    /// is empty.
    mutating func take(now: UInt64, capacity: Int, perSecond: Int) -> Bool {
        if now > last {
            tokens = min(Double(capacity), tokens + Double(now - last) * (Double(perSecond) / 1e9))
            last = now
        }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// Whether less than half of `capacity` is left (as of the last `take`).
    func isBelowHalf(of capacity: Int) -> Bool { tokens < Double(capacity) / 2 }
}
