import SwiftletLoop

/// An `HTTP2Transport` in memory: output accumulates in a queue the owner
/// takes, time moves only when told to, and nothing touches a socket or a
/// loop. Protocol tests and the frame fuzzer drive an `HTTP2Engine` over
/// it; `MemoryTransport.run` does the work a loop turn would.
public final class MemoryTransport: HTTP2Transport {
    public private(set) var now: UInt64
    public let timers: TimerWheel
    public let bufferPool: BufferPool
    let output: SendQueue

    public private(set) var isOpen = true
    public var isClosed: Bool { !isOpen }
    /// How the engine asked to close, if it did.
    public private(set) var closeMode: CloseMode?
    public private(set) var isReadingPaused = false
    /// The engine asked for `produceOutput()`.
    public private(set) var flushRequested = false
    public var writeHighWatermark = 256 * 1024
    public var writeLowWatermark = 128 * 1024
    public private(set) var bytesSent: UInt64 = 0
    public var remoteAddressDescription: String { "memory" }

    public init(now: UInt64 = 1_000_000_000, bufferPool: BufferPool = BufferPool(blockSize: 16 * 1024, maximumFree: 64)) {
        self.now = now
        // A small wheel: few timers, and `advance` visits at most one
        // revolution of slots however far time jumps.
        timers = TimerWheel(now: now, slotCount: 64)
        self.bufferPool = bufferPool
        output = SendQueue(pool: bufferPool)
    }

    public var pendingOutputBytes: Int { output.pendingBytes }
    public var isWritable: Bool { output.pendingBytes < writeHighWatermark }

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
        if isOpen { flushRequested = true }
    }

    public func pauseReading() { isReadingPaused = true }
    public func resumeReading() { isReadingPaused = false }

    public func close(_ mode: CloseMode) {
        guard isOpen else { return }
        isOpen = false
        closeMode = mode
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
        bytesSent &+= UInt64(bytes.count)
        return bytes.withUnsafeBytes(body)
    }

    /// The output written so far, taken.
    public func takeOutput() -> [UInt8] { takeOutput { Array($0) } }

    /// Drops the output written so far without looking at it.
    public func discardOutput() {
        bytesSent &+= UInt64(output.pendingBytes)
        output.discardAll()
    }

    /// The end of a turn: lets `engine` produce what it asked to.
    public func flush(_ engine: HTTP2Engine) {
        while flushRequested && isOpen {
            flushRequested = false
            engine.produceOutput()
        }
    }

    /// Sets the clock to `now` (never backwards), fires the timers that came
    /// due, then flushes `engine`.
    public func advance(to now: UInt64, flushing engine: HTTP2Engine) {
        if now > self.now { self.now = now }
        _ = timers.advance(to: self.now)
        flush(engine)
    }

    /// Moves the clock forward and fires the timers that came due, then
    /// flushes `engine`.
    public func advance(by duration: Duration, flushing engine: HTTP2Engine) {
        now &+= duration.nanoseconds
        _ = timers.advance(to: now)
        flush(engine)
    }
}
