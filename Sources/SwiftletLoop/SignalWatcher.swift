import CSwiftletSystem
import Glibc

/// Runs a callback on the loop thread when a signal arrives, through a
/// `signalfd`. Create it with `EventLoop.onSignal(_:_:)`.
///
/// A signal is only queued for the signalfd while it is blocked in every
/// thread; otherwise its default action (often: terminate) runs. Call
/// `Signals.block(_:)` at the start of `main`, before any thread exists.
public final class SignalWatcher {
    public unowned(unsafe) let loop: EventLoop  // a loop outlives its watchers
    public let signal: Int32
    let fd: Int32
    let action: () -> Void
    var slot: UInt32 = 0
    var generation: UInt32 = 0
    /// Room for one `signalfd_siginfo`.
    let buffer: UnsafeMutableRawPointer
    let bufferSize: Int
    var closed = false
    /// io_uring: a poll of the signalfd is in flight.
    var readArmed = false

    init(loop: EventLoop, signal: Int32, action: @escaping () -> Void) throws {
        _ = swiftlet_block_signal(signal)
        let fd = swiftlet_signalfd_for(-1, signal)
        guard fd >= 0 else { throw SystemError("signalfd", errno: -fd) }
        self.loop = loop
        self.signal = signal
        self.fd = fd
        self.action = action
        bufferSize = swiftlet_signalfd_siginfo_size()
        buffer = .allocate(byteCount: bufferSize, alignment: 8)
    }

    deinit {
        buffer.deallocate()
    }

    /// Stops watching.
    public func cancel() {
        loop.assertInLoop()
        guard !closed else { return }
        closed = true
        loop.backendCloseSignal(self)
    }

    /// Drains the signalfd (epoll) and runs the action once per read batch.
    func drainAndRun() {
        var any = false
        while read(fd, buffer, bufferSize) == bufferSize { any = true }
        if any { action() }
    }
}

/// Process-wide signal set-up.
public enum Signals {
    /// Blocks `signals` in the calling thread and in every thread it creates
    /// afterwards, so they are delivered to signalfds only. Call first thing
    /// in `main`.
    public static func block(_ signals: [Int32]) {
        for signo in signals { _ = swiftlet_block_signal(signo) }
    }

    /// Ignores SIGPIPE process-wide (writes to a closed socket then fail
    /// with EPIPE instead of killing the process).
    public static func ignoreBrokenPipe() {
        _ = Glibc.signal(SIGPIPE, SIG_IGN)
    }
}
