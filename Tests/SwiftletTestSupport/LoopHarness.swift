import CSwiftletSystem
import Glibc
import SwiftletLoop

/// Both backends, for parameterised tests.
public let allBackends: [EventLoop.BackendChoice] = [.uring, .epoll]

/// Runs an `EventLoop` on its own thread for a test.
///
/// `onLoop { loop in ... }` runs a closure on the loop thread and waits for
/// its result, so a test can set up listeners and read loop-confined state
/// without data races.
public final class LoopHarness: Sendable {
    public let loop: EventLoop
    private let thread: EventLoopThread

    public init(backend: EventLoop.BackendChoice, configure: @Sendable (inout EventLoop.Configuration) -> Void = { _ in },
         clock: any LoopClock = MonotonicClock()) throws {
        var configuration = EventLoop.Configuration(backend: backend)
        configure(&configuration)
        thread = try EventLoopThread(configuration: configuration, clock: clock)
        loop = thread.loop
    }

    /// Runs `body` on the loop thread and returns its result.
    public func onLoop<T: Sendable>(_ body: @escaping @Sendable (EventLoop) throws -> T) throws -> T {
        let result = Locked<Result<T, any Error>?>(nil)
        let done = Semaphore()
        let loop = self.loop
        loop.execute {
            let value = Result { try body(loop) }
            result.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0! }.get()
    }

    /// Polls `condition` on the loop until it holds or `seconds` pass.
    public func waitUntil(seconds: Double = 10, _ condition: @escaping @Sendable (EventLoop) -> Bool) throws -> Bool {
        let deadline = MonotonicClock().now() + UInt64(seconds * 1e9)
        while MonotonicClock().now() < deadline {
            if try onLoop(condition) { return true }
            usleep(2_000)
        }
        return try onLoop(condition)
    }

    /// Stops the loop, closes it and joins its thread.
    public func shutdown() {
        thread.stopAndJoin()
    }

    deinit {
        thread.stopAndJoin()
    }
}

/// A counting semaphore for test threads.
public final class Semaphore: @unchecked Sendable {
    private var semaphore = sem_t()

    public init(value: UInt32 = 0) { sem_init(&semaphore, 0, value) }
    deinit { sem_destroy(&semaphore) }
    public func signal() { sem_post(&semaphore) }
    public func wait() { while sem_wait(&semaphore) != 0 && errno == EINTR {} }
}

/// A loop-thread-safe counter box that tests read from their own thread.
public final class Box<T: Sendable>: Sendable {
    private let value: Locked<T>
    public init(_ initial: T) { value = Locked(initial) }
    public func get() -> T { value.withLock { $0 } }
    public func set(_ new: T) { value.withLock { $0 = new } }
    public func update<R>(_ body: (inout T) -> R) -> R { value.withLock { body(&$0) } }
}

/// A blocking client socket for driving a loop from a test thread.
public final class TestClient {
    public let fd: Int32

    public convenience init(port: UInt16, host: String = "127.0.0.1") throws {
        try self.init(address: SocketAddress(ip: host, port: port))
    }

    /// Connects to any address, a Unix socket's too.
    public init(address: SocketAddress) throws {
        fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError.last("socket") }
        let rc = address.withSockAddr { Glibc.connect(fd, $0, $1) }
        guard rc == 0 else {
            let error = SystemError.last("connect")
            Glibc.close(fd)
            throw error
        }
        var one: Int32 = 1
        if !address.isUnix { setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) }
    }

    deinit { Glibc.close(fd) }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError.last("send")
            }
            offset += n
        }
    }

    /// Reads exactly `count` bytes (or fewer at EOF).
    public func receive(exactly count: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + offset, count - offset, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError.last("recv")
            }
            if n == 0 { break }
            offset += n
        }
        return Array(buffer.prefix(offset))
    }

    /// Reads until EOF, checking every byte against `Pattern` (fast even in
    /// debug builds: memcmp per read). Returns the byte count and whether all matched.
    public func drainVerifying(chunk: Int = 1 << 16, pace: (() -> Void)? = nil) throws -> (count: Int, intact: Bool) {
        var buffer = [UInt8](repeating: 0, count: chunk)
        var total = 0
        var intact = true
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, chunk, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError.last("recv")
            }
            if n == 0 { break }
            if intact { intact = buffer.withUnsafeBytes { Pattern.matches(UnsafeRawBufferPointer(rebasing: $0[0..<n]), at: total) } }
            total += n
            pace?()
        }
        return (total, intact)
    }

    /// Makes blocking reads fail (EAGAIN) after `seconds` instead of hanging
    /// a test whose server stalls.
    public func setReceiveTimeout(seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    public func setReceiveBuffer(_ bytes: Int32) {
        var value = bytes
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    public func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    /// Closes with SO_LINGER 0: the kernel sends RST.
    public func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    }
}

/// Open sockets of this process whose local or peer TCP port is `port`: a
/// listener on it, the connections it accepted and the clients connected to
/// it. Unlike a count of all open descriptors, other tests running in
/// parallel in the same process cannot change it, so a leak test can compare
/// it exactly.
public func openSocketCount(port: UInt16) -> Int {
    guard let directory = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(directory) }
    var count = 0
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let fd = Int32(name) else { continue }
        if socketPort(fd, peer: false) == port || socketPort(fd, peer: true) == port { count += 1 }
    }
    return count
}

private func socketPort(_ fd: Int32, peer: Bool) -> UInt16? {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let result = withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length)
        }
    }
    guard result == 0 else { return nil }
    switch Int32(storage.ss_family) {
    case AF_INET:
        return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) } }
    case AF_INET6:
        return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) } }
    default:
        return nil
    }
}

/// The deterministic byte at `index` of test payloads.
@inline(__always) public func patternByte(_ index: Int) -> UInt8 { UInt8(truncatingIfNeeded: index % 251) }

/// Test payloads: byte i is i mod 251 (a prime, so misplaced chunks show).
/// Filling and checking go through memcpy/memcmp against a template, which
/// keeps 64 MiB transfers quick in debug builds.
public enum Pattern {
    public static let period = 251
    /// 64 KiB plus one period, so any window of up to 64 KiB starts inside it.
    /// Written once on first use, then only read.
    nonisolated(unsafe) public static let template: UnsafeMutableRawBufferPointer = {
        let size = (1 << 16) + period
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        for index in 0..<size { buffer[index] = UInt8(index % period) }
        return buffer
    }()

    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        var offset = 0
        let block = 1 << 16  // a multiple of nothing in particular; phase is handled below
        while offset < buffer.count {
            let n = min(block, buffer.count - offset)
            (buffer.baseAddress! + offset).copyMemory(from: template.baseAddress! + offset % period, byteCount: n)
            offset += n
        }
    }

    public static func bytes(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }

    /// Whether `chunk` equals the pattern starting at stream offset `offset`.
    public static func matches(_ chunk: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        var checked = 0
        while checked < chunk.count {
            let n = min(1 << 16, chunk.count - checked)
            if memcmp(chunk.baseAddress! + checked, template.baseAddress! + (offset + checked) % period, n) != 0 { return false }
            checked += n
        }
        return true
    }
}

/// Carries a loop-confined object across the Sendable boundary of
/// `LoopHarness.onLoop`. Only touch `value` inside `onLoop` closures.
public final class TestLoopBound<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}
