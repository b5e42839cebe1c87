import ArgumentParser
import SwiftletHTTP2
import SwiftletLoop
import SwiftletServer
import SwiftletStatic

extension EventLoop.BackendChoice: ExpressibleByArgument {}

struct ListeningOptions: ParsableArguments {
    @Option(help: "Address to listen on: 0.0.0.0, :: (IPv6 and IPv4), 127.0.0.1, a host name. (default: 0.0.0.0)")
    var host: String?

    @Option(help: "Port, 0...65535; 0 picks a free port. (default: 8080, or 8443 with TLS)",
            transform: { try FlagValue.integer($0, flag: "--port", range: 0...65535) })
    var port: Int?

    @Option(help: ArgumentHelp("Listen here instead of --host/--port; repeat for several: HOST:PORT, [IPV6]:PORT, unix:PATH (a Unix socket) or systemd (socket activation).",
                               valueName: "address"),
            transform: { try FlagValue.listenAddress($0, flag: "--listen") })
    var listen: [ListenAddress] = []

    @Option(help: "Mode of the --listen unix: socket files, octal, 0...777. (default: from the umask)",
            transform: { try FlagValue.octalMode($0, flag: "--unix-socket-mode") })
    var unixSocketMode: UInt32?

    @Flag(help: "Every connection starts with a PROXY protocol header (v1 or v2) from the load balancer in front, naming the client; connections without a valid one are closed. Only where nothing but the proxy can connect.")
    var proxyProtocol = false

    @Option(help: ArgumentHelp("Believe x-forwarded-for from these proxies (CIDR, repeat for several): the access log names the client they forwarded for.",
                               valueName: "cidr"),
            transform: { try FlagValue.addressRange($0, flag: "--real-ip-from") })
    var realIPFrom: [AddressRange] = []

    /// The addresses `--listen`, or `--host` and `--port`, name.
    func addresses(defaultPort: UInt16) -> [ListenAddress] {
        guard !listen.isEmpty else { return [.tcp(host: host ?? "0.0.0.0", port: port.map(UInt16.init) ?? defaultPort)] }
        return listen.map { address in
            if case .unix(let path, _) = address { return .unix(path: path, mode: unixSocketMode) }
            return address
        }
    }

    func validate() throws {
        if !listen.isEmpty && (host != nil || port != nil) {
            throw ValidationError("--listen replaces --host and --port: give every address as --listen HOST:PORT")
        }
        if unixSocketMode != nil && !listen.contains(where: { if case .unix = $0 { true } else { false } }) {
            throw ValidationError("--unix-socket-mode applies to --listen unix:PATH addresses, and none is given")
        }
    }

    @Option(help: "I/O backend: auto (io_uring when the kernel allows it, else epoll), uring or epoll.")
    var io: EventLoop.BackendChoice = .auto

    @Option(help: "Loop threads sharing the port with SO_REUSEPORT, 1...256. (default: 1)",
            transform: { try FlagValue.integer($0, flag: "--loops", range: 1...256) })
    var loops = 1

    @Option(help: "listen(2) backlog, 1...65535. (default: 1024)",
            transform: { try FlagValue.integer($0, flag: "--backlog", range: 1...65535) })
    var backlog = 1024
}

struct HTTP2Options: ParsableArguments {
    @Option(help: "SETTINGS_MAX_CONCURRENT_STREAMS, 1...10000. (default: 100)",
            transform: { try FlagValue.integer($0, flag: "--max-concurrent-streams", range: 1...10_000) })
    var maxConcurrentStreams = 100

    @Option(help: "SETTINGS_INITIAL_WINDOW_SIZE: what a stream may send before its handler reads, 0...2G-1. (default: 65535)",
            transform: { try FlagValue.size($0, flag: "--initial-window-size", range: 0...0x7FFF_FFFF) })
    var initialWindowSize = 65_535

    @Option(help: "Stream receive window once a handler reads, 64K...2G-1. (default: 1M)",
            transform: { try FlagValue.size($0, flag: "--stream-window-size", range: 65_535...0x7FFF_FFFF) })
    var streamWindowSize = 1 << 20

    @Option(help: "Connection receive window, 64K...2G-1. (default: 16M)",
            transform: { try FlagValue.size($0, flag: "--connection-window-size", range: 65_535...0x7FFF_FFFF) })
    var connectionWindowSize = 16 << 20

    @Option(help: "Of a request still arriving after its complete response, this many bytes are read and discarded with window credit before the stream is left to run out, 0...2G-1. (default: 1M)",
            transform: { try FlagValue.size($0, flag: "--request-drain-allowance", range: 0...0x7FFF_FFFF) })
    var requestDrainAllowance = 1 << 20

    @Option(help: "SETTINGS_MAX_FRAME_SIZE accepted, 16K...1M (the receive ring grows to fit). (default: 16384)",
            transform: { try FlagValue.size($0, flag: "--max-frame-size", range: 16_384...(1 << 20)) })
    var maxFrameSize = 16_384

    @Option(help: "SETTINGS_HEADER_TABLE_SIZE (HPACK decoder memory), 0...64K. (default: 4096)",
            transform: { try FlagValue.size($0, flag: "--header-table-size", range: 0...65_536) })
    var headerTableSize = 4096

    @Option(help: "SETTINGS_MAX_HEADER_LIST_SIZE: decoded request head limit, 1K...1M. (default: 64K)",
            transform: { try FlagValue.size($0, flag: "--max-header-list-size", range: 1024...(1 << 20)) })
    var maxHeaderListSize = 64 << 10

    @Option(help: "Fields per request head, 8...10000. (default: 256)",
            transform: { try FlagValue.integer($0, flag: "--max-header-fields", range: 8...10_000) })
    var maxHeaderFields = 256

    @Option(help: "Requests per connection before a graceful GOAWAY, 1...1000000000. (default: 10000)",
            transform: { try FlagValue.integer($0, flag: "--max-requests-per-connection", range: 1...1_000_000_000) })
    var maxRequestsPerConnection = 10_000

    @Option(help: "DATA bytes one connection may generate per loop turn, 16K...64M. (default: 256K)",
            transform: { try FlagValue.size($0, flag: "--output-budget", range: 16_384...(64 << 20)) })
    var outputBudget = 256 << 10
}

struct FloodOptions: ParsableArguments {
    @Option(help: "Unanswered PING/SETTINGS ACKs before ENHANCE_YOUR_CALM (ping and settings floods), 10...100000. (default: 1000)",
            transform: { try FlagValue.integer($0, flag: "--max-queued-control-frames", range: 10...100_000) })
    var maxQueuedControlFrames = 1000

    @Option(help: "Pending output above which a connection stops being read, 64K...64M. (default: 512K)",
            transform: { try FlagValue.size($0, flag: "--max-pending-output", range: 65_536...(64 << 20)) })
    var maxPendingOutput = 512 << 10

    @Option(help: "Parameters per SETTINGS frame, 8...1000. (default: 32)",
            transform: { try FlagValue.integer($0, flag: "--max-settings-per-frame", range: 8...1000) })
    var maxSettingsPerFrame = 32

    @Option(help: "Stream resets allowed in a burst, peer's and provoked (rapid reset, MadeYouReset), 10...1000000. (default: 1000)",
            transform: { try FlagValue.integer($0, flag: "--reset-burst", range: 10...1_000_000) })
    var resetBurst = 1000

    @Option(help: "Stream resets per second once the burst is spent, 1...1000000. (default: 33)",
            transform: { try FlagValue.integer($0, flag: "--resets-per-second", range: 1...1_000_000) })
    var resetsPerSecond = 33

    @Option(help: "New streams per loop turn, as a multiple of --max-concurrent-streams, 1...100. (default: 2)",
            transform: { try FlagValue.integer($0, flag: "--new-streams-per-turn-factor", range: 1...100) })
    var newStreamsPerTurnFactor = 2

    @Option(help: "Consecutive empty DATA frames without END_STREAM, 1...1000. (default: 1)",
            transform: { try FlagValue.integer($0, flag: "--max-consecutive-empty-data", range: 1...1000) })
    var maxConsecutiveEmptyData = 1

    @Option(help: "Frames under this size count as small (dribble), 1...16K. (default: 128)",
            transform: { try FlagValue.size($0, flag: "--small-frame-size", range: 1...16_384) })
    var smallFrameSize = 128

    @Option(help: "Small frames allowed in a burst, 10...10000000. (default: 10000)",
            transform: { try FlagValue.integer($0, flag: "--small-frame-burst", range: 10...10_000_000) })
    var smallFrameBurst = 10_000

    @Option(help: "Small frames per second once the burst is spent, 1...10000000. (default: 1000)",
            transform: { try FlagValue.integer($0, flag: "--small-frames-per-second", range: 1...10_000_000) })
    var smallFramesPerSecond = 1000

    @Option(help: "Suspicious frames (PRIORITY, unknown types, stream errors) allowed in a burst, 10...10000000. (default: 1000)",
            transform: { try FlagValue.integer($0, flag: "--glitch-burst", range: 10...10_000_000) })
    var glitchBurst = 1000

    @Option(help: "Suspicious frames per second once the burst is spent, 1...10000000. (default: 100)",
            transform: { try FlagValue.integer($0, flag: "--glitches-per-second", range: 1...10_000_000) })
    var glitchesPerSecond = 100

    @Option(help: "PRIORITY_UPDATE entries kept for streams not yet open, 0...10000. (default: 100)",
            transform: { try FlagValue.integer($0, flag: "--max-pending-priority-updates", range: 0...10_000) })
    var maxPendingPriorityUpdates = 100

    @Option(help: "DATA frames a peer's flow-control window cuts below this size count as window dribble, 1...16K. (default: 1K)",
            transform: { try FlagValue.size($0, flag: "--min-data-frame-size", range: 1...16_384) })
    var minDataFrameSize = 1024

    @Option(help: "How long a DATA frame the peer's window would cut below --min-data-frame-size is held back, 1ms...1s. (default: 20ms)",
            transform: { try FlagValue.duration($0, flag: "--dribble-delay", range: .milliseconds(1)...Duration.seconds(1)) })
    var dribbleDelay: Duration = .milliseconds(20)

    @Option(help: "Window-dribbled DATA frames allowed in a burst (half spent: graceful GOAWAY; all: ENHANCE_YOUR_CALM), 10...10000000. (default: 200)",
            transform: { try FlagValue.integer($0, flag: "--dribble-burst", range: 10...10_000_000) })
    var dribbleBurst = 200

    @Option(help: "Window-dribbled DATA frames per second once the burst is spent, 1...10000000. (default: 10)",
            transform: { try FlagValue.integer($0, flag: "--dribbles-per-second", range: 1...10_000_000) })
    var dribblesPerSecond = 10
}

struct TimeoutOptions: ParsableArguments {
    @Option(help: "A connection with no open stream is closed after this, 1s...1h. (default: 60s)",
            transform: { try FlagValue.duration($0, flag: "--idle-timeout", range: .seconds(1)...Duration.seconds(3600)) })
    var idleTimeout: Duration = .seconds(60)

    @Option(help: "The TLS handshake and the first request bytes (the HTTP/2 preface) must arrive within this, 100ms...5m. (default: 10s)",
            transform: { try FlagValue.duration($0, flag: "--handshake-timeout", range: .milliseconds(100)...Duration.seconds(300)) })
    var handshakeTimeout: Duration = .seconds(10)

    @Option(help: "Our SETTINGS must be acknowledged within this, 100ms...5m. (default: 10s)",
            transform: { try FlagValue.duration($0, flag: "--settings-timeout", range: .milliseconds(100)...Duration.seconds(300)) })
    var settingsTimeout: Duration = .seconds(10)

    @Option(help: "A request head (HTTP/2 CONTINUATION frames, an HTTP/1.1 head, a cleartext connection's first bytes) must complete within this, 100ms...5m. (default: 10s)",
            transform: { try FlagValue.duration($0, flag: "--header-block-timeout", range: .milliseconds(100)...Duration.seconds(300)) })
    var headerBlockTimeout: Duration = .seconds(10)

    @Option(help: "Pending output that makes no progress this long closes the connection, 1s...1h. (default: 60s)",
            transform: { try FlagValue.duration($0, flag: "--write-timeout", range: .seconds(1)...Duration.seconds(3600)) })
    var writeTimeout: Duration = .seconds(60)

    @Option(help: "A request still arriving after its complete response is read and discarded this long, then reset with NO_ERROR, 0s...1m. (default: 1s)",
            transform: { try FlagValue.duration($0, flag: "--request-drain-timeout", range: .zero...Duration.seconds(60)) })
    var requestDrainTimeout: Duration = .seconds(1)

    @Option(help: "On SIGTERM/SIGINT, in-flight responses may run this long, 0s...1h. (default: 10s)",
            transform: { try FlagValue.duration($0, flag: "--graceful-timeout", range: .zero...Duration.seconds(3600)) })
    var gracefulTimeout: Duration = .seconds(10)
}

struct TLSOptions: ParsableArguments {
    @Option(name: .customLong("tls-cert"),
            help: ArgumentHelp("PEM certificate chain, leaf first. Repeat with --tls-key for more names (chosen by SNI) or an RSA and an ECDSA certificate for one name; the first is the default. Turns TLS on.", valueName: "path"))
    var certificates: [String] = []

    @Option(name: .customLong("tls-key"),
            help: ArgumentHelp("PEM private key of the --tls-cert at the same position.", valueName: "path"))
    var keys: [String] = []

    @Option(name: .customLong("tls-ciphers"),
            help: ArgumentHelp("TLS 1.2 cipher list in OpenSSL syntax. (default: ECDHE with AES-GCM or ChaCha20-Poly1305 only)", valueName: "list"))
    var ciphers: String?

    @Option(name: .customLong("tls-ticket-key-rotation"),
            help: "A new session-ticket key is made this often; tickets stay valid for two more periods, 1m...7d. (default: 1h)",
            transform: { try FlagValue.duration($0, flag: "--tls-ticket-key-rotation", range: .seconds(60)...Duration.seconds(7 * 86_400)) })
    var ticketKeyRotation: Duration = .seconds(3600)

    func validate() throws {
        guard certificates.count == keys.count else {
            throw ValidationError("--tls-cert is given \(certificates.count) time(s) and --tls-key \(keys.count): give them in pairs, each key after its certificate")
        }
        if ciphers != nil && certificates.isEmpty {
            throw ValidationError("--tls-ciphers: needs --tls-cert and --tls-key")
        }
    }
}

struct FileOptions: ParsableArguments {
    @Option(help: "File served for a directory.")
    var index = "index.html"

    @Option(help: "Cache-Control value sent with every file, e.g. \"public, max-age=3600\". (default: none)")
    var cacheControl: String?

    @Flag(help: "Do not serve file.br / file.zst / file.gz to clients that accept them.")
    var noPrecompressed = false

    @Flag(help: "Follow symlinks inside the root (ones leading outside it are refused either way).")
    var followSymlinks = false

    @Option(help: "Send a 103 Early Hints with preload links for an HTML page's stylesheets and scripts before its 200: off, h2 (HTTP/2 only) or all (HTTP/1.1 too). (default: off)",
            transform: { try FlagValue.choice($0, flag: "--early-hints", EarlyHints.Policy.self) })
    var earlyHints = EarlyHints.Policy.off

    @Option(help: "Bytes of open, mapped files kept per loop, 0...64G. (default: 256M)",
            transform: { try FlagValue.size($0, flag: "--file-cache-size", range: 0...(64 << 30)) })
    var fileCacheSize = 256 << 20
}

/// Compression on the fly (`CompressionSettings`).
struct CompressionOptions: ParsableArguments {
    @Option(help: "Compress files of compressible types on the fly for clients that accept it: on or off. Precompressed siblings are served either way. (default: on)",
            transform: { try FlagValue.choice($0, flag: "--compress", Switch.self) })
    var compress = Switch.on

    @Option(help: ArgumentHelp("Codings offered, most preferred first (the tie-break at equal accept-encoding quality), from br, zstd, gzip. (default: br,zstd,gzip)", valueName: "list"),
            transform: { try FlagValue.codings($0, flag: "--compress-codings") })
    var compressCodings = ContentCoding.preference

    @Option(help: ArgumentHelp("Levels as CODING=LEVEL pairs, e.g. br=7,gzip=9: br 0...11, zstd 1...19, gzip 1...9. (default: br=5,zstd=6,gzip=6)", valueName: "list"),
            transform: { try FlagValue.codingLevels($0, flag: "--compress-levels") })
    var compressLevels: [ContentCoding: Int] = [:]

    @Option(help: "Smaller files are sent as they are, 0...1G. (default: 512)",
            transform: { try FlagValue.size($0, flag: "--compress-min-size", range: 0...(1 << 30)) })
    var compressMinSize = 512

    @Option(help: ArgumentHelp("Media types compressed, as type/subtype or type/*, comma-separated; replaces the default list (text/*, JavaScript, JSON, XML, SVG, WASM, fonts without their own compression).", valueName: "list"),
            transform: { try FlagValue.mediaTypes($0, flag: "--compress-types") })
    var compressTypes = MediaTypePattern.compressible

    @Option(help: "Bytes of compressed files kept, shared by all loops (least recently used goes first); larger files are not compressed, 0...64G. (default: 64M)",
            transform: { try FlagValue.size($0, flag: "--compress-cache-size", range: 0...(64 << 30)) })
    var compressCacheSize = 64 << 20

    var settings: CompressionSettings {
        var settings = CompressionSettings(cacheSize: compressCacheSize)
        settings.enabled = compress == .on
        settings.codings = compressCodings
        settings.levels = compressLevels
        settings.minimumSize = compressMinSize
        settings.types = compressTypes
        return settings
    }
}

/// A feature turned on or off by a flag's value.
enum Switch: String, CaseIterable {
    case on
    case off
}

struct LoggingOptions: ParsableArguments {
    @Option(help: "Access log: a file path, - for standard output, or off.")
    var accessLog = "off"

    @Option(help: "Access log lines: combined or json. (default: combined)",
            transform: { try FlagValue.choice($0, flag: "--access-log-format", AccessLogFormat.self) })
    var accessLogFormat = AccessLogFormat.combined

    @Option(help: "Diagnostics level: trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(help: "Serve Prometheus metrics at http://HOST:PORT/metrics, e.g. 127.0.0.1:9100. (default: off)",
            transform: { try FlagValue.hostPort($0, flag: "--metrics-listen") })
    var metricsListen: (host: String, port: UInt16)?

    @Option(help: "Diagnostics on standard error: text or json. (default: text)",
            transform: { try FlagValue.choice($0, flag: "--log-format", DiagnosticsFormat.self) })
    var logFormat = DiagnosticsFormat.text
}

/// How `swiftlet` writes its diagnostics.
enum DiagnosticsFormat: String, CaseIterable {
    case text
    case json
}
