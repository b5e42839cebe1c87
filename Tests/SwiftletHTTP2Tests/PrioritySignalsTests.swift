@testable import SwiftletHTTP2
import SwiftletHTTP
import Testing

/// A connection's priority signals without a connection: which count, and
/// PRIORITY_UPDATEs that wait for their stream (RFC 9218 §2.1, §7.1).
@Suite("Priority signals (RFC 9218, RFC 7540 hints)")
struct PrioritySignalsTests {
    var signals = PrioritySignals(maxPending: 2)

    static func priority(_ urgency: Int, incremental: Bool = false) -> HTTPPriority {
        var priority = HTTPPriority.default
        priority.urgency = urgency
        priority.incremental = incremental
        return priority
    }

    mutating func opening(_ id: UInt32, weight: Int? = nil, header: String? = nil, peerDisabled: Bool = false) -> PrioritySignals.Opening {
        guard let header else { return signals.opening(id, weight: weight, header: nil, peerDisabledRFC7540: peerDisabled) }
        return Array(header.utf8).withUnsafeBytes { signals.opening(id, weight: weight, header: $0, peerDisabledRFC7540: peerDisabled) }
    }

    @Test("RFC 7540 weights are hints until the client sends an RFC 9218 signal, and never after SETTINGS_NO_RFC7540_PRIORITIES")
    mutating func hints() {
        #expect(signals.hint(weight: 256, peerDisabledRFC7540: false) == .fromRFC7540(weight: 256))
        #expect(signals.hint(weight: 256, peerDisabledRFC7540: true) == nil)
        #expect(opening(1, weight: 16) == .init(hint: .fromRFC7540(weight: 16)))
        // A priority header both counts and switches hints off, for this
        // stream's later signals and for every later stream.
        #expect(opening(3, weight: 16, header: "u=1, i") == .init(hint: .fromRFC7540(weight: 16), header: Self.priority(1, incremental: true)))
        #expect(signals.clientUsesRFC9218)
        #expect(signals.hint(weight: 256, peerDisabledRFC7540: false) == nil)
        #expect(opening(5, weight: 16) == .init())
    }

    @Test("§7.1: a PRIORITY_UPDATE for an open stream applies now; for one not yet open the latest waits for it, within the bound; for one that cannot open it is dropped")
    mutating func updates() {
        #expect(signals.update(Self.priority(0), for: 1, isOpen: true, canOpen: false) == Self.priority(0))
        #expect(signals.clientUsesRFC9218, "a PRIORITY_UPDATE is an RFC 9218 signal")
        #expect(signals.update(Self.priority(1), for: 7, isOpen: false, canOpen: true) == nil)
        #expect(signals.update(Self.priority(2), for: 7, isOpen: false, canOpen: true) == nil, "the latest wins")
        #expect(signals.update(Self.priority(3), for: 9, isOpen: false, canOpen: true) == nil)
        #expect(signals.update(Self.priority(4), for: 11, isOpen: false, canOpen: true) == nil)
        #expect(signals.pendingCount == 2, "bounded: stream 11's update was not kept")
        #expect(signals.update(Self.priority(5), for: 3, isOpen: false, canOpen: false) == nil)
        #expect(signals.pendingCount == 2, "a stream that cannot open keeps nothing")
        // Stream 9 opens: its update applies, and stream 7's is dropped, since
        // a lower id can no longer open (RFC 9113 §5.1.1).
        #expect(opening(9) == .init(update: Self.priority(3)))
        #expect(signals.pendingCount == 0)
    }
}
