/// A flow-control window (RFC 9113 §5.2, §6.9).
///
/// Windows are signed: "A change to SETTINGS_INITIAL_WINDOW_SIZE can cause
/// the available space in a flow-control window to become negative" (§6.9.2),
/// and never exceed 2^31-1: "A sender MUST NOT allow a flow-control window
/// to exceed 2^31-1 octets" (§6.9.1).
public struct FlowControlWindow: Equatable, Sendable {
    public static let maximum = 0x7FFF_FFFF

    public private(set) var value: Int

    public init(_ value: Int) { self.value = value }

    /// Why a WINDOW_UPDATE's increment cannot be applied.
    public enum UpdateRefusal: Equatable, Sendable {
        /// §6.9: "A receiver MUST treat the receipt of a WINDOW_UPDATE frame
        /// with a flow-control window increment of 0 as a stream error
        /// (Section 5.4.2) of type PROTOCOL_ERROR; errors on the connection
        /// flow-control window MUST be treated as a connection error".
        case zero
        /// §6.9.1: "If a sender receives a WINDOW_UPDATE that causes a
        /// flow-control window to exceed this maximum, it MUST terminate
        /// either the stream or the connection, as appropriate."
        case overflow

        /// The rejection, for the connection's window (`streamID` 0) or a stream's.
        public func rejection(streamID: UInt32) -> Rejection {
            let window = streamID == 0 ? "connection" : "stream \(streamID)"
            switch self {
            case .zero: return Rejection(.windowUpdateZero, "\(window) WINDOW_UPDATE of 0")
            case .overflow: return Rejection(.windowOverflow, "\(window) window exceeds 2^31-1")
            }
        }
    }

    /// Applies a WINDOW_UPDATE's increment (§6.9.1), unless it is refused
    /// (then the window is unchanged).
    public mutating func receiveUpdate(_ increment: Int) -> UpdateRefusal? {
        guard increment > 0 else { return .zero }
        return increase(by: increment) ? nil : .overflow
    }

    /// Adds a WINDOW_UPDATE increment; false if the window would overflow.
    public mutating func increase(by increment: Int) -> Bool {
        guard value + increment <= Self.maximum else { return false }
        value += increment
        return true
    }

    /// Applies a SETTINGS_INITIAL_WINDOW_SIZE change; false on overflow.
    public mutating func adjust(by delta: Int) -> Bool {
        guard value + delta <= Self.maximum else { return false }
        value += delta
        return true
    }

    /// Spends `count` bytes (the caller checked they fit).
    public mutating func consume(_ count: Int) {
        value -= count
    }
}

/// The receiving side of one flow-control window (RFC 9113 §6.9): what the
/// peer may still send, the window size it has been told, and consumed
/// bytes whose credit has not gone back yet.
///
/// "A receiver MAY choose to set any window size that it desires for each
/// stream and for the entire connection" (§6.9.1); credit goes back in
/// batches, once at least half the advertised window (and at least 4 KiB)
/// was consumed, so a fast reader costs one WINDOW_UPDATE per half window.
public struct InboundWindow: Equatable, Sendable {
    /// Bytes the peer may still send.
    public private(set) var available: Int
    /// The window size the peer has been given.
    public private(set) var advertised: Int
    /// Consumed bytes not yet returned by WINDOW_UPDATE.
    public private(set) var unacknowledged = 0

    /// A window of `size`, the peer's view at the start (65 535 for the
    /// connection, SETTINGS_INITIAL_WINDOW_SIZE for a stream).
    public init(_ size: Int) {
        available = size
        advertised = size
    }

    /// A flow-controlled frame of `length` bytes arrived. §6.9.1: "A
    /// receiver MUST treat the receipt of a ... frame that exceeds [the
    /// window] as a connection [or stream] error of type FLOW_CONTROL_ERROR";
    /// false then, and the window is unchanged.
    public mutating func take(_ length: Int) -> Bool {
        guard length <= available else { return false }
        available -= length
        return true
    }

    /// `count` bytes were consumed (read by the handler, or discarded).
    /// Returns the WINDOW_UPDATE increment to send now, if a batch is due.
    public mutating func consumed(_ count: Int) -> Int? {
        guard count > 0 else { return nil }
        unacknowledged += count
        guard unacknowledged >= max(advertised / 2, 4096) else { return nil }
        return flush()
    }

    /// Grows the window to `size` (never shrinks it), counting `count` more
    /// bytes consumed: returns the increment to send now (the growth plus
    /// all unreturned credit), if any.
    public mutating func raise(to size: Int, consumed count: Int = 0) -> Int? {
        unacknowledged += count
        if size > advertised {
            unacknowledged += size - advertised
            advertised = size
        }
        return unacknowledged > 0 ? flush() : nil
    }

    private mutating func flush() -> Int {
        let increment = unacknowledged
        available += increment
        unacknowledged = 0
        return increment
    }
}
