import SwiftletHTTP

/// A connection's priority signals (RFC 9218, with RFC 7540's as hints):
/// which ones still count, and the PRIORITY_UPDATE frames that wait for a
/// stream not yet open. It decides what priority a signal means; the engine
/// applies it to the stream, where a stronger source wins over a weaker one
/// (RFC 7540 hint < `priority` header < PRIORITY_UPDATE < handler).
struct PrioritySignals {
    /// "servers SHOULD buffer the most recently received PRIORITY_UPDATE
    /// frame" for a stream that is not open yet (RFC 9218 §7.1): this many
    /// streams at most, so a peer cannot make the buffer grow.
    let maxPending: Int
    /// The client sent an RFC 9218 signal (a `priority` header or a
    /// PRIORITY_UPDATE): from then on RFC 7540 weights are not used as hints.
    private(set) var clientUsesRFC9218 = false
    private var pending: [UInt32: HTTPPriority] = [:]

    init(maxPending: Int) {
        self.maxPending = maxPending
    }

    /// An RFC 7540 weight (HEADERS priority fields, a PRIORITY frame) as a
    /// hint, for clients that send no RFC 9218 signals and did not say they
    /// send no RFC 7540 ones (SETTINGS_NO_RFC7540_PRIORITIES, RFC 9218 §2.1).
    func hint(weight: Int, peerDisabledRFC7540: Bool) -> HTTPPriority? {
        clientUsesRFC9218 || peerDisabledRFC7540 ? nil : .fromRFC7540(weight: weight)
    }

    /// A PRIORITY_UPDATE for `id`. For an open stream it returns the
    /// priority to apply; for a stream that can still open (`canOpen`) it
    /// keeps the latest one, within `maxPending`; for any other it does
    /// nothing.
    mutating func update(_ priority: HTTPPriority, for id: UInt32, isOpen: Bool, canOpen: Bool) -> HTTPPriority? {
        clientUsesRFC9218 = true
        if isOpen { return priority }
        if canOpen && (pending[id] != nil || pending.count < maxPending) { pending[id] = priority }
        return nil
    }

    /// A new stream's signals, to apply weakest first.
    struct Opening: Equatable {
        var hint: HTTPPriority?
        var header: HTTPPriority?
        var update: HTTPPriority?
    }

    /// The signals for stream `id`, opening with the RFC 7540 `weight` of
    /// its HEADERS (if any) and its `priority` header (if any).
    mutating func opening(_ id: UInt32, weight: Int?, header: UnsafeRawBufferPointer?, peerDisabledRFC7540: Bool) -> Opening {
        var signals = Opening()
        if let weight { signals.hint = hint(weight: weight, peerDisabledRFC7540: peerDisabledRFC7540) }
        if let header {
            clientUsesRFC9218 = true
            signals.header = HTTPPriority.parse(header)
        }
        if !pending.isEmpty {
            signals.update = pending.removeValue(forKey: id)
            // Lower ids can no longer open (§5.1.1): drop what was buffered for them.
            pending = pending.filter { $0.key > id }
        }
        return signals
    }

    /// Streams with a PRIORITY_UPDATE waiting.
    var pendingCount: Int { pending.count }
}
