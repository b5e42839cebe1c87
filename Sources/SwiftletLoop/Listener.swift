import CSwiftletSystem
import Glibc

/// Options for a listening socket.
public struct ListenOptions: Sendable {
    /// `listen(2)` backlog.
    public var backlog: Int32 = 1024
    /// `SO_REUSEPORT`: several loops (threads or processes) may listen on the
    /// same port and the kernel spreads connections among them.
    public var reusePort = false
    /// `IPV6_V6ONLY` for IPv6 listeners (false: `::` accepts IPv4 too).
    public var ipv6Only = false

    public init(backlog: Int32 = 1024, reusePort: Bool = false, ipv6Only: Bool = false) {
        self.backlog = backlog
        self.reusePort = reusePort
        self.ipv6Only = ipv6Only
    }
}

/// A listening socket (TCP or Unix domain) on a loop. Each accepted
/// connection is nonblocking, has `TCP_NODELAY` set (TCP: set once on the
/// listening socket, whose accepted sockets inherit it) and is passed to
/// the accept callback, which sets its handler; reading starts when the
/// callback returns.
///
/// When the process runs out of descriptors (`EMFILE`, `ENFILE`) or kernel
/// memory, accepting pauses for the loop's `acceptRetryDelay` instead of
/// spinning on the error; the pause is logged once per episode.
public final class Listener {
    enum State { case listening, paused, closing, closed }

    public unowned(unsafe) let loop: EventLoop  // a loop outlives its listeners
    public let fd: Int32
    /// The bound address, with the real port when port 0 was asked for.
    public let localAddress: SocketAddress
    let onAccept: (Connection) -> Void
    var state: State = .listening
    var slot: UInt32 = 0
    var generation: UInt32 = 0
    /// `TCP_NODELAY` is set on the listening socket, so every socket it
    /// accepts has it already (Linux copies it to the accepted socket): no
    /// `setsockopt` per connection.
    let acceptedHaveNoDelay: Bool
    /// io_uring: a multishot accept is armed.
    var acceptArmed = false
    var retryTimer: TimerID?
    var exhaustionLogged = false
    /// Connections accepted so far.
    public internal(set) var acceptedCount = 0
    /// Times accepting paused because of descriptor or memory exhaustion.
    public internal(set) var pauseCount = 0

    init(loop: EventLoop, fd: Int32, localAddress: SocketAddress, onAccept: @escaping (Connection) -> Void) {
        self.loop = loop
        self.fd = fd
        self.localAddress = localAddress
        self.onAccept = onAccept
        var one: Int32 = 1
        acceptedHaveNoDelay = !localAddress.isUnix
            && setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    /// The port actually bound.
    public var port: UInt16 { localAddress.port }

    /// Whether accepting is paused after descriptor exhaustion.
    public var isPaused: Bool { state == .paused }

    /// Stops listening. Connections already accepted are unaffected.
    public func close() {
        loop.assertInLoop()
        guard state == .listening || state == .paused else { return }
        if let timer = retryTimer {
            loop.timers.cancel(timer)
            retryTimer = nil
        }
        state = .closing
        loop.backendCloseListener(self)
    }

    /// Called by a backend for every accepted descriptor.
    /// - Parameter peer: the client's address, if the accept gave it.
    func adopt(fd newFD: Int32, peer: SocketAddress? = nil) {
        acceptedCount += 1
        exhaustionLogged = false
        loop.adoptAccepted(fd: newFD, listener: self, peer: peer)
    }

    /// Called by a backend when accept failed with `errno`; returns whether
    /// accepting should go on.
    func acceptFailed(errno code: Int32) -> Bool {
        switch code {
        case EINTR, EAGAIN, ECONNABORTED, EPROTO, EPERM, ENETDOWN, ENOPROTOOPT, EHOSTDOWN,
             ENONET, EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH:
            return true  // transient or about that one connection
        case EMFILE, ENFILE, ENOBUFS, ENOMEM:
            pause(errno: code)
            return false
        default:
            loop.logger.error("accept on \(localAddress) failed: \(SystemError("accept", errno: code))")
            pause(errno: code)
            return false
        }
    }

    private func pause(errno code: Int32) {
        guard state == .listening else { return }
        state = .paused
        pauseCount += 1
        if !exhaustionLogged {
            exhaustionLogged = true
            loop.logger.warning("accept on \(localAddress) paused: \(SystemError("accept", errno: code)); retrying every \(loop.configuration.acceptRetryDelay)")
        }
        retryTimer = loop.timers.schedule(at: loop.now &+ loop.configuration.acceptRetryDelay.nanoseconds, target: self, tag: 0)
        loop.backendPauseListener(self)
    }
}

extension Listener: TimerTarget {
    public func timerFired(_ id: TimerID, tag: UInt64) {
        guard id == retryTimer else { return }
        retryTimer = nil
        guard state == .paused else { return }
        state = .listening
        loop.backendResumeListener(self)
    }
}
