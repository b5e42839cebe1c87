import SwiftletLoop

/// An `HTTP2Transport` in memory: output accumulates in a queue the owner
/// takes, time moves only when told to, and nothing touches a socket or a
/// loop. Protocol tests and the frame fuzzer drive an `HTTP2Engine` over
/// it; `MemoryTransport.run` does the work a loop turn would.
///
/// Stored state is private behind computed public properties: a stored
/// `var` visible outside the module keeps Swift's run-time exclusivity
/// checks on every access, which the fuzzer pays for on every call.
public final class MemoryTransport: HTTP2Transport {
    public var now: UInt64 { clock }
    public let timers: TimerWheel
    public let bufferPool: BufferPool
    let output: SendQueue

    private var clock: UInt64
    private var open = true
    private var requestedCloseMode: CloseMode?
    private var readingPaused = false
    private var flushWanted = false
    private var highWatermark = 256 * 1024
    private var lowWatermark = 128 * 1024
    private var sentBytes: UInt64 = 0

    public var isOpen: Bool { open }
    public var isClosed: Bool { !open }
    /// How the engine asked to close, if it did.
    public var closeMode: CloseMode? { requestedCloseMode }
    public var isReadingPaused: Bool { readingPaused }
    /// The engine asked for `produceOutput()`.
    public var flushRequested: Bool { flushWanted }
    public var writeHighWatermark: Int {
        get { highWatermark }
        set { highWatermark = newValue }
    }
    public var writeLowWatermark: Int {
        get { lowWatermark }
        set { lowWatermark = newValue }
    }
    public var bytesSent: UInt64 { sentBytes }
    public var remoteAddressDescription: String { "memory" }
    public var tlsDescription: (version: String, cipher: String)? { nil }

    public init(now: UInt64 = 1_000_000_000, bufferPool: BufferPool = BufferPool(blockSize: 16 * 1024, maximumFree: 64)) {
        clock = now
        // A small wheel: few timers, and `advance` visits at most one
        // revolution of slots however far time jumps.
        timers = TimerWheel(now: now, slotCount: 64)
        self.bufferPool = bufferPool
        output = SendQueue(pool: bufferPool)
    }

    public var pendingOutputBytes: Int { output.pendingBytes }
    public var isWritable: Bool { output.pendingBytes < highWatermark }

    @discardableResult
    public func writeInPlace(minimumCapacity: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) -> Int {
        guard isOpen else { return 0 }
        let space = output.ensureAppendSpace(minimum: minimumCapacity)
        let count = body(space)
        output.commitAppended(count)
        return count
    }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard isOpen, bytes.count > 0 else { return }
        output.append(copying: bytes)
    }

    @discardableResult
    public func write(movingFrom queue: SendQueue, upTo limit: Int, copyThreshold: Int) -> Int {
        guard isOpen else { return 0 }
        return queue.move(upTo: limit, into: output, copyThreshold: copyThreshold)
    }

    public func requestWillFlush() {
        if open { flushWanted = true }
    }

    public func pauseReading() { readingPaused = true }
    public func resumeReading() { readingPaused = false }

    public func close(_ mode: CloseMode) {
        guard isOpen else { return }
        open = false
        requestedCloseMode = mode
        if mode == .immediately || mode == .reset { output.discardAll() }
    }

    // MARK: driving

    /// Calls `body` with the output written so far and drops it (as if the
    /// peer read it), returning `body`'s result.
    public func takeOutput<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(output.pendingBytes)
        while let region = output.firstRegion {
            bytes.append(contentsOf: region)
            output.advance(by: region.count)
        }
        sentBytes &+= UInt64(bytes.count)
        return bytes.withUnsafeBytes(body)
    }

    /// The output written so far, taken.
    public func takeOutput() -> [UInt8] { takeOutput { Array($0) } }

    /// Drops the output written so far without looking at it.
    public func discardOutput() {
        sentBytes &+= UInt64(output.pendingBytes)
        output.discardAll()
    }

    /// The end of a turn: lets `engine` produce what it asked to.
    public func flush(_ engine: HTTP2Engine) {
        while flushWanted && open {
            flushWanted = false
            engine.produceOutput()
        }
    }

    /// Sets the clock to `now` (never backwards), fires the timers that came
    /// due, then flushes `engine`.
    public func advance(to now: UInt64, flushing engine: HTTP2Engine) {
        if now > clock { clock = now }
        _ = timers.advance(to: clock)
        flush(engine)
    }

    /// Moves the clock forward and fires the timers that came due, then
    /// flushes `engine`.
    public func advance(by duration: Duration, flushing engine: HTTP2Engine) {
        clock &+= duration.nanoseconds
        _ = timers.advance(to: clock)
        flush(engine)
    }
}
