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
