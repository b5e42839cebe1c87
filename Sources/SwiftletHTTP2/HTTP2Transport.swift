import SwiftletLoop

/// What the HTTP/2 engine needs from the world outside the protocol: a
/// byte stream to write into, whether that stream keeps up, the time and
/// timers. Bytes in are not here: whoever owns the engine hands them to
/// `HTTP2Engine.receive(_:)`.
///
/// Two implementations: a loop `Connection` (the server; see
/// `HTTP2Connection`) and `MemoryTransport` (protocol tests, the frame
/// fuzzer, and embedders who want to drive the protocol without sockets).
public protocol HTTP2Transport: AnyObject {
    /// Nanoseconds on the transport's clock (the loop's once-per-turn reading).
    var now: UInt64 { get }
    /// Where the engine's timers live; `now` drives them.
    var timers: TimerWheel { get }
    /// Buffers for the streams' queued bodies (and the output's).
    var bufferPool: BufferPool { get }

    var isOpen: Bool { get }
    var isClosed: Bool { get }
    /// Output queued and not yet written.
    var pendingOutputBytes: Int { get }
    /// Whether output is below the high watermark.
    var isWritable: Bool { get }
    var writeHighWatermark: Int { get set }
    var writeLowWatermark: Int { get set }
    /// Bytes written so far (write progress, for the write timeout).
    var bytesSent: UInt64 { get }
    /// The peer, as text for logs.
    var remoteAddressDescription: String { get }
    /// TLS version and cipher suite, for logs; nil over cleartext.
    var tlsDescription: (version: String, cipher: String)? { get }

    /// Lets `body` write up to the returned count of bytes in place.
    @discardableResult
    func writeInPlace(minimumCapacity: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) -> Int
    /// Copies `bytes` into the output.
    func write(_ bytes: UnsafeRawBufferPointer)
    /// Moves up to `limit` queued bytes of `queue` into the output (long
    /// regions referenced, short ones copied).
    @discardableResult
    func write(movingFrom queue: SendQueue, upTo limit: Int, copyThreshold: Int) -> Int
    /// Asks for `HTTP2Engine.produceOutput()` once before the output is
    /// next flushed (the end of the loop turn).
    func requestWillFlush()
    func pauseReading()
    func resumeReading()
    func close(_ mode: CloseMode)
}

extension Connection: HTTP2Transport {
    public var now: UInt64 { loopTime }
    public var timers: TimerWheel { loop.timers }
    public var bufferPool: BufferPool { loop.bufferPool }
    public var remoteAddressDescription: String { remoteAddress?.host ?? "-" }
    public var tlsDescription: (version: String, cipher: String)? { transport?.securityDescription }
}
