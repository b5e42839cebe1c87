import CoreMetrics
import SwiftletHTTP1
import SwiftletHTTP2
import SwiftletLoop
import SwiftletTLS

/// Everything a `Server` needs to know. The `swiftlet` flags map onto it.
public struct ServerConfiguration: Sendable {
    /// Where to accept connections: TCP addresses, Unix sockets, systemd's
    /// sockets, as many as needed (`Server.localAddresses` says where it
    /// listens). `host` and `port` read and set the first TCP address.
    public var listen: [ListenAddress] = [.tcp(host: "0.0.0.0", port: 8080)]
    /// Address of the first TCP listener: an IPv4 or IPv6 literal or a host
    /// name (setting it adds a TCP listener on port 8080 if there is none).
    public var host: String {
        get { firstTCP?.host ?? "0.0.0.0" }
        set { setFirstTCP(host: newValue, port: port) }
    }
    /// Port of the first TCP listener (0: any free port; `Server.port` says
    /// which).
    public var port: UInt16 {
        get { firstTCP?.port ?? 8080 }
        set { setFirstTCP(host: host, port: newValue) }
    }
    /// Loop threads sharing the port with SO_REUSEPORT, each a single-threaded loop.
    public var loops = 1
    /// io_uring, epoll, or whichever works.
    public var backend: EventLoop.BackendChoice = .auto
    /// listen(2) backlog.
    public var backlog: Int32 = 1024
    /// The event loops' buffers and timers.
    public var loop = EventLoop.Configuration()
    /// HTTP/2 settings and limits.
    public var http2 = HTTP2Configuration()
    /// HTTP/1.1 limits and timeouts.
    public var http1 = HTTP1Configuration()
    /// How long a graceful shutdown lets in-flight responses run.
    public var gracefulTimeout: Duration = .seconds(10)
    /// Every connection starts with a PROXY protocol header (v1 or v2) from
    /// the load balancer in front, naming the client; connections without a
    /// valid one are closed (counted as `proxy_header_missing`,
    /// `proxy_header_invalid`, `proxy_header_timeout`). Only for listeners
    /// that nobody but the proxy can reach: the header is believed.
    public var proxyProtocol = false
    /// Proxies whose `x-forwarded-for` names the client in the access log
    /// (see `TrustedProxies`).
    public var trustedProxies = TrustedProxies()
    /// TLS (with ALPN h2 and http/1.1); nil serves cleartext (h2c and HTTP/1.1).
    public var tls: TLSConfiguration?
    /// Access log destination.
    public var accessLog: AccessLogDestination = .off
    /// How access log lines look.
    public var accessLogFormat: AccessLogFormat = .combined
    /// Where metrics go (see `ServerMetrics` for the list): nil uses the
    /// factory bootstrapped with swift-metrics' `MetricsSystem`, and when
    /// none was, the server keeps no metrics at all.
    public var metricsFactory: (any MetricsFactory)?
    /// How often each loop hands its counts to the metrics backend.
    public var metricsInterval: Duration = .seconds(1)

    public init() {}

    private var firstTCP: (host: String, port: UInt16)? {
        for case .tcp(let host, let port) in listen { return (host, port) }
        return nil
    }

    private mutating func setFirstTCP(host: String, port: UInt16) {
        if let index = listen.firstIndex(where: { if case .tcp = $0 { true } else { false } }) {
            listen[index] = .tcp(host: host, port: port)
        } else {
            listen.append(.tcp(host: host, port: port))
        }
    }
}
