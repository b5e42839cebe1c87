import ArgumentParser
import CSwiftletSystem
import Glibc
import Logging
import SwiftletHTTP2
import SwiftletLoop
import SwiftletServer
import SwiftletStatic
import SwiftletTLS

let swiftletVersion = "0.1.0"

@main
struct Swiftlet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftlet",
        abstract: "A fast, careful HTTP/2 static-site server.",
        discussion: "Serves <root> over HTTP/2 (h2c, or h2 over TLS) and HTTP/1.1. SIGTERM and SIGINT shut down gracefully; SIGHUP reloads certificates; SIGUSR1 reopens the access log. Every flag is described in docs/flags.md.",
        version: swiftletVersion
    )

    @Argument(help: "The directory to serve.")
    var root: String

    @OptionGroup(title: "Listening") var listening: ListeningOptions
    @OptionGroup(title: "TLS") var tls: TLSOptions
    @OptionGroup(title: "HTTP/2") var http2: HTTP2Options
    @OptionGroup(title: "Flood and abuse limits") var floods: FloodOptions
    @OptionGroup(title: "Timeouts") var timeouts: TimeoutOptions
    @OptionGroup(title: "Files") var files: FileOptions
    @OptionGroup(title: "Compression") var compression: CompressionOptions
    @OptionGroup(title: "Logging") var logging: LoggingOptions

    func validate() throws {
        var status = stat()
        guard stat(root, &status) == 0 else {
            throw ValidationError("root '\(root)' does not exist (\(String(cString: strerror(errno))))")
        }
        guard status.st_mode & S_IFMT == S_IFDIR else {
            throw ValidationError("root '\(root)' is not a directory")
        }
        guard access(root, R_OK | X_OK) == 0 else {
            throw ValidationError("root '\(root)' is not readable")
        }
        guard Logger.Level(rawValue: logging.logLevel) != nil else {
            throw ValidationError("--log-level: '\(logging.logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        if logging.accessLog != "off" && logging.accessLog != "-" && logging.accessLog.isEmpty {
            throw ValidationError("--access-log: give a file path, - or off")
        }
    }

    func makeConfiguration() -> ServerConfiguration {
        var configuration = ServerConfiguration()
        configuration.listen = listening.addresses(defaultPort: tls.certificates.isEmpty ? 8080 : 8443)
        configuration.proxyProtocol = listening.proxyProtocol
        configuration.trustedProxies = TrustedProxies(listening.realIPFrom)
        if !tls.certificates.isEmpty {
            var settings = TLSConfiguration(certificates: zip(tls.certificates, tls.keys).map {
                TLSConfiguration.Certificate(certificatePath: $0, keyPath: $1)
            })
            settings.cipherList = tls.ciphers
            settings.ticketKeyRotation = tls.ticketKeyRotation
            settings.handshakeTimeout = timeouts.handshakeTimeout
            configuration.tls = settings
        }
        configuration.loops = listening.loops
        configuration.backend = listening.io
        configuration.backlog = Int32(listening.backlog)
        configuration.gracefulTimeout = timeouts.gracefulTimeout
        var limits = Limits()
        limits.maxConcurrentStreams = http2.maxConcurrentStreams
        limits.initialStreamWindowSize = http2.initialWindowSize
        limits.streamWindowSize = max(http2.streamWindowSize, http2.initialWindowSize)
        limits.connectionWindowSize = http2.connectionWindowSize
        limits.requestDrainAllowance = http2.requestDrainAllowance
        limits.maxFrameSize = http2.maxFrameSize
        limits.headerTableSize = http2.headerTableSize
        limits.maxHeaderListSize = http2.maxHeaderListSize
        limits.maxHeaderFieldCount = http2.maxHeaderFields
        limits.maxRequestsPerConnection = http2.maxRequestsPerConnection
        limits.maxQueuedControlFrames = floods.maxQueuedControlFrames
        limits.maxPendingOutput = floods.maxPendingOutput
        limits.maxSettingsPerFrame = floods.maxSettingsPerFrame
        limits.resetBurst = floods.resetBurst
        limits.resetsPerSecond = floods.resetsPerSecond
        limits.newStreamsPerTurnFactor = floods.newStreamsPerTurnFactor
        limits.maxConsecutiveEmptyData = floods.maxConsecutiveEmptyData
        limits.smallFrameSize = floods.smallFrameSize
        limits.smallFrameBurst = floods.smallFrameBurst
        limits.smallFramesPerSecond = floods.smallFramesPerSecond
        limits.glitchBurst = floods.glitchBurst
        limits.glitchesPerSecond = floods.glitchesPerSecond
        limits.maxPendingPriorityUpdates = floods.maxPendingPriorityUpdates
        limits.minDataFrameSize = floods.minDataFrameSize
        limits.dribbleDelay = floods.dribbleDelay
        limits.dribbleBurst = floods.dribbleBurst
        limits.dribblesPerSecond = floods.dribblesPerSecond
        limits.prefaceTimeout = timeouts.handshakeTimeout
        limits.settingsTimeout = timeouts.settingsTimeout
        limits.headerBlockTimeout = timeouts.headerBlockTimeout
        limits.idleTimeout = timeouts.idleTimeout
        limits.writeTimeout = timeouts.writeTimeout
        limits.requestDrainTimeout = timeouts.requestDrainTimeout
        configuration.http2.limits = limits
        configuration.http1.maxHeadSize = http2.maxHeaderListSize
        configuration.http1.maxFields = http2.maxHeaderFields
        configuration.http1.headTimeout = timeouts.headerBlockTimeout
        configuration.http1.idleTimeout = timeouts.idleTimeout
        configuration.http1.writeTimeout = timeouts.writeTimeout
        configuration.http1.outputBudget = http2.outputBudget
        configuration.http2.outputBudgetPerTurn = http2.outputBudget
        // The receive ring must hold a whole frame plus room to read more.
        var ring = 64 * 1024
        while ring < 4 * (http2.maxFrameSize + 9) { ring *= 2 }
        configuration.loop.receiveRingSize = ring
        switch logging.accessLog {
        case "off": configuration.accessLog = .off
        case "-": configuration.accessLog = .standardOutput
        default: configuration.accessLog = .file(logging.accessLog)
        }
        configuration.accessLogFormat = logging.accessLogFormat
        return configuration
    }

    func run() throws {
        // Signals go to the main thread's sigwait, never to a loop thread.
        Signals.block([SIGTERM, SIGINT, SIGHUP, SIGUSR1])
        let level = Logger.Level(rawValue: logging.logLevel) ?? .info
        let format = logging.logFormat
        FileHandleStderr.format = format
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
        var files = StaticFileConfiguration(root: root)
        files.index = self.files.index
        files.cacheControl = self.files.cacheControl
        files.precompressed = !self.files.noPrecompressed
        files.followSymlinks = self.files.followSymlinks
        files.fileCacheSize = self.files.fileCacheSize
        files.compression = compression.settings
        files.earlyHints = self.files.earlyHints
        var configuration = makeConfiguration()
        var metrics: MetricsEndpoint?
        if let listen = logging.metricsListen {
            do {
                let endpoint = try MetricsEndpoint(host: listen.host, port: listen.port, backend: configuration.backend,
                                                compression: files.compression.enabled ? files.compression.cache : nil)
                try endpoint.server.start()
                configuration.metricsFactory = endpoint.factory
                metrics = endpoint
            } catch {
                FileHandleStderr.write("swiftlet: cannot start the metrics endpoint on \(listen.host):\(listen.port): \(error)\n")
                throw ExitCode(1)
            }
        }
        let fileConfiguration = files
        let server: Server
        do {
            let metricsFactory = metrics?.factory
            server = try Server(configuration: configuration) { loop in
                let handler = try StaticFileHandler(configuration: fileConfiguration, loop: loop)
                if let metricsFactory { _ = FileCacheMetrics(handler: handler, loop: loop, factory: metricsFactory) }
                return handler
            }
            try server.start()
        } catch {
            FileHandleStderr.write("swiftlet: cannot start: \(error)\n")
            throw ExitCode(1)
        }
        let loops = configuration.loops == 1 ? "1 loop" : "\(configuration.loops) loops"
        let backend = server.backend == .uring ? "io_uring" : "epoll"
        let protocols = server.tls.map { "h2, http/1.1 over TLS for \($0.names)" } ?? "h2c, http/1.1"
        let scheme = server.tls == nil ? "http" : "https"
        for address in server.localAddresses {
            let location = address.isUnix ? address.description : "\(scheme)://\(address)"
            FileHandleStderr.write("swiftlet \(swiftletVersion) listening on \(location) (\(protocols); \(backend); \(loops))\n")
        }
        if let metrics, let listen = logging.metricsListen {
            let metricsHost = listen.host.contains(":") ? "[\(listen.host)]" : listen.host
            FileHandleStderr.write("swiftlet metrics at http://\(metricsHost):\(metrics.server.port)/metrics\n")
        }
        let notifier = SystemdNotifier()
        notify(notifier, "READY=1") { try notifier.ready(status: "serving \(root)") }
        waitForSignals(server, notifier: notifier)
        server.waitUntilStopped()
        // The last counts reach the registry as the loops close; then the
        // endpoint stops too.
        metrics?.server.stop()
        metrics?.server.waitUntilStopped()
    }

    /// The main thread waits for signals: SIGTERM/SIGINT shut down gracefully
    /// (a second one stops at once), SIGUSR1 reopens the access log, SIGHUP
    /// reloads the certificates.
    private func waitForSignals(_ server: Server, notifier: SystemdNotifier) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGUSR1] { sigaddset(&set, signal) }
        let stopped = StopFlag()
        while true {
            var received: Int32 = 0
            guard sigwait(&set, &received) == 0 else { continue }
            switch received {
            case SIGTERM, SIGINT:
                notify(notifier, "STOPPING=1") { try notifier.stopping() }
                server.beginGracefulShutdown()
                stopped.waitInBackground(server)
                return
            case SIGUSR1:
                server.reopenAccessLog()
            case SIGHUP:
                guard server.tls != nil else { continue }
                notify(notifier, "RELOADING=1") { try notifier.reloading() }
                do {
                    try server.reloadCertificates()
                    FileHandleStderr.write("swiftlet: SIGHUP: certificates reloaded for \(server.tls!.names)\n")
                } catch {
                    FileHandleStderr.write("swiftlet: SIGHUP: certificates not reloaded, the old ones stay in use: \(error)\n")
                }
                notify(notifier, "READY=1") { try notifier.ready(status: "serving \(root)") }
            default:
                continue
            }
        }
    }
}

/// Tells systemd (`NOTIFY_SOCKET`) about a state change; a failure is
/// reported, not fatal.
func notify(_ notifier: SystemdNotifier, _ what: String, _ send: () throws -> Void) {
    guard notifier.isEnabled else { return }
    do { try send() } catch { FileHandleStderr.write("swiftlet: cannot tell systemd \(what): \(error)\n") }
}

/// Lets the graceful shutdown be cut short by a second signal while
/// `waitUntilStopped` runs on the main thread.
final class StopFlag: @unchecked Sendable {
    func waitInBackground(_ server: Server) {
        let context = Unmanaged.passRetained(server).toOpaque()
        var thread = pthread_t()
        pthread_create(&thread, nil, { raw in
            let server = Unmanaged<Server>.fromOpaque(raw!).takeRetainedValue()
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGTERM)
            sigaddset(&set, SIGINT)
            var received: Int32 = 0
            if sigwait(&set, &received) == 0 { server.stop() }
            return nil
        }, context)
        pthread_detach(thread)
    }
}

/// What `swiftlet` itself says on standard error (where it listens, why it
/// cannot start): plain lines, or JSON lines under `--log-format json`.
enum FileHandleStderr {
    nonisolated(unsafe) static var format = DiagnosticsFormat.text  // set once, before any thread starts

    static func write(_ text: String) {
        if format == .json {
            let message = text.hasSuffix("\n") ? String(text.dropLast()) : text
            JSONLogHandler(label: "swiftlet").emit(level: .notice, source: "swiftlet", message: message)
            return
        }
        var text = text
        text.withUTF8 { bytes in _ = Glibc.write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
    }
}
