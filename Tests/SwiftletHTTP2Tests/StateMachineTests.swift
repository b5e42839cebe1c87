import SwiftletHTTP
@testable import SwiftletHTTP2
import Testing

/// The pure parts of the engine, each alone: the §5.1 stream state machine
/// for every (state, event) pair, the request and response progress, the
/// connection state, settings, the stream table. Each runs in microseconds.
@Suite("State machines and tables, without a connection")
struct StateMachineTests {
    static let states: [(String, StreamState)] = [
        ("idle", .idle), ("open", .open), ("half-closed (remote)", .halfClosedRemote), ("half-closed (local)", .halfClosedLocal),
        ("closed (END_STREAM)", .closed(.endStream)), ("closed (peer reset)", .closed(.peerReset)), ("closed (we reset)", .closed(.localReset)),
    ]
    static let events: [(String, StreamState.Event)] = [
        ("recv H", .receiveHeaders(endStream: false)), ("recv H+ES", .receiveHeaders(endStream: true)),
        ("recv D", .receiveData(endStream: false)), ("recv D+ES", .receiveData(endStream: true)), ("recv R", .receiveReset),
        ("send H", .sendHeaders(endStream: false)), ("send H+ES", .sendHeaders(endStream: true)),
        ("send D", .sendData(endStream: false)), ("send D+ES", .sendData(endStream: true)), ("send R", .sendReset),
        ("conn closed", .connectionClosed),
    ]

    /// RFC 9113 §5.1, row by row: (state, event, what happens). "ok → S" is
    /// the new state; errors name their scope, code and token.
    static let expected: [(String, String, String)] = [
        // idle: "Receiving any frame other than HEADERS or PRIORITY on a stream
        // in this state MUST be treated as a connection error of type
        // PROTOCOL_ERROR." A server that does not push never sends first.
        ("idle", "recv H", "ok → open"),
        ("idle", "recv H+ES", "ok → half-closed (remote)"),
        ("idle", "recv D", "connection PROTOCOL_ERROR frame_on_idle_stream"),
        ("idle", "recv D+ES", "connection PROTOCOL_ERROR frame_on_idle_stream"),
        ("idle", "recv R", "connection PROTOCOL_ERROR frame_on_idle_stream"),
        ("idle", "send H", "stream INTERNAL_ERROR send_on_idle_stream"),
        ("idle", "send H+ES", "stream INTERNAL_ERROR send_on_idle_stream"),
        ("idle", "send D", "stream INTERNAL_ERROR send_on_idle_stream"),
        ("idle", "send D+ES", "stream INTERNAL_ERROR send_on_idle_stream"),
        ("idle", "send R", "ignore"),
        ("idle", "conn closed", "ok → closed (we reset)"),
        // open: a second HEADERS is trailers and must carry END_STREAM (§8.1).
        ("open", "recv H", "stream PROTOCOL_ERROR trailers_without_end_stream"),
        ("open", "recv H+ES", "ok → half-closed (remote)"),
        ("open", "recv D", "ok → open"),
        ("open", "recv D+ES", "ok → half-closed (remote)"),
        ("open", "recv R", "ok → closed (peer reset)"),
        ("open", "send H", "ok → open"),
        ("open", "send H+ES", "ok → half-closed (local)"),
        ("open", "send D", "ok → open"),
        ("open", "send D+ES", "ok → half-closed (local)"),
        ("open", "send R", "ok → closed (we reset)"),
        ("open", "conn closed", "ok → closed (we reset)"),
        // half-closed (remote): "If an endpoint receives additional frames,
        // other than WINDOW_UPDATE, PRIORITY, or RST_STREAM, for a stream that
        // is in this state, it MUST respond with a stream error of type STREAM_CLOSED."
        ("half-closed (remote)", "recv H", "stream STREAM_CLOSED frame_on_half_closed_stream"),
        ("half-closed (remote)", "recv H+ES", "stream STREAM_CLOSED frame_on_half_closed_stream"),
        ("half-closed (remote)", "recv D", "stream STREAM_CLOSED frame_on_half_closed_stream"),
        ("half-closed (remote)", "recv D+ES", "stream STREAM_CLOSED frame_on_half_closed_stream"),
        ("half-closed (remote)", "recv R", "ok → closed (peer reset)"),
        ("half-closed (remote)", "send H", "ok → half-closed (remote)"),
        ("half-closed (remote)", "send H+ES", "ok → closed (END_STREAM)"),
        ("half-closed (remote)", "send D", "ok → half-closed (remote)"),
        ("half-closed (remote)", "send D+ES", "ok → closed (END_STREAM)"),
        ("half-closed (remote)", "send R", "ok → closed (we reset)"),
        ("half-closed (remote)", "conn closed", "ok → closed (we reset)"),
        // half-closed (local): the peer may still send; we may not.
        ("half-closed (local)", "recv H", "stream PROTOCOL_ERROR trailers_without_end_stream"),
        ("half-closed (local)", "recv H+ES", "ok → closed (END_STREAM)"),
        ("half-closed (local)", "recv D", "ok → half-closed (local)"),
        ("half-closed (local)", "recv D+ES", "ok → closed (END_STREAM)"),
        ("half-closed (local)", "recv R", "ok → closed (peer reset)"),
        ("half-closed (local)", "send H", "stream INTERNAL_ERROR send_after_end_stream"),
        ("half-closed (local)", "send H+ES", "stream INTERNAL_ERROR send_after_end_stream"),
        ("half-closed (local)", "send D", "stream INTERNAL_ERROR send_after_end_stream"),
        ("half-closed (local)", "send D+ES", "stream INTERNAL_ERROR send_after_end_stream"),
        ("half-closed (local)", "send R", "ok → closed (we reset)"),
        ("half-closed (local)", "conn closed", "ok → closed (we reset)"),
        // closed: "An endpoint MAY treat receipt of any other type of frame on
        // a closed stream as a connection error of type STREAM_CLOSED" (DATA
        // gets a stream error; HEADERS the connection error) ...
        ("closed (END_STREAM)", "recv H", "connection STREAM_CLOSED headers_on_closed_stream"),
        ("closed (END_STREAM)", "recv H+ES", "connection STREAM_CLOSED headers_on_closed_stream"),
        ("closed (END_STREAM)", "recv D", "stream STREAM_CLOSED data_on_closed_stream"),
        ("closed (END_STREAM)", "recv D+ES", "stream STREAM_CLOSED data_on_closed_stream"),
        ("closed (END_STREAM)", "recv R", "ignore"),
        ("closed (END_STREAM)", "send H", "ignore"),
        ("closed (END_STREAM)", "send H+ES", "ignore"),
        ("closed (END_STREAM)", "send D", "ignore"),
        ("closed (END_STREAM)", "send D+ES", "ignore"),
        ("closed (END_STREAM)", "send R", "ignore"),
        ("closed (END_STREAM)", "conn closed", "ignore"),
        ("closed (peer reset)", "recv H", "connection STREAM_CLOSED headers_on_closed_stream"),
        ("closed (peer reset)", "recv H+ES", "connection STREAM_CLOSED headers_on_closed_stream"),
        ("closed (peer reset)", "recv D", "stream STREAM_CLOSED data_on_closed_stream"),
        ("closed (peer reset)", "recv D+ES", "stream STREAM_CLOSED data_on_closed_stream"),
        ("closed (peer reset)", "recv R", "ignore"),
        ("closed (peer reset)", "send H", "ignore"),
        ("closed (peer reset)", "send H+ES", "ignore"),
        ("closed (peer reset)", "send D", "ignore"),
        ("closed (peer reset)", "send D+ES", "ignore"),
        ("closed (peer reset)", "send R", "ignore"),
        ("closed (peer reset)", "conn closed", "ignore"),
        // ... "An endpoint MUST ignore frames that it receives on closed
        // streams after it has sent a RST_STREAM frame."
        ("closed (we reset)", "recv H", "ignore"),
        ("closed (we reset)", "recv H+ES", "ignore"),
        ("closed (we reset)", "recv D", "ignore"),
        ("closed (we reset)", "recv D+ES", "ignore"),
        ("closed (we reset)", "recv R", "ignore"),
        ("closed (we reset)", "send H", "ignore"),
        ("closed (we reset)", "send H+ES", "ignore"),
        ("closed (we reset)", "send D", "ignore"),
        ("closed (we reset)", "send D+ES", "ignore"),
        ("closed (we reset)", "send R", "ignore"),
        ("closed (we reset)", "conn closed", "ignore"),
    ]

    static func name(_ state: StreamState) -> String { states.first { $0.1 == state }!.0 }

    @Test("§5.1: every (state, event) pair of the stream state machine")
    func streamStates() {
        #expect(Self.expected.count == Self.states.count * Self.events.count)
        for (stateName, eventName, outcome) in Self.expected {
            var state = Self.states.first { $0.0 == stateName }!.1
            let event = Self.events.first { $0.0 == eventName }!.1
            let admitted = state.admits(event)
            let transition = state.apply(event)
            let described: String
            switch transition {
            case .ok: described = "ok → \(Self.name(state))"
            case .ignore: described = "ignore"
            case .streamError(let rejection): described = "stream \(rejection.code) \(rejection.token)"
            case .connectionError(let rejection): described = "connection \(rejection.code) \(rejection.token)"
            }
            #expect(described == outcome, "\(stateName) + \(eventName)")
            #expect(admitted == transition, "admits agrees with apply for \(stateName) + \(eventName)")
            if transition != .ok {
                #expect(state == Self.states.first { $0.0 == stateName }!.1, "a refused event leaves the state alone")
            }
        }
    }

    @Test("request progress: receiving → complete → finish delivered, or draining after an early response")
    func requestProgress() {
        var progress = RequestProgress.receiving
        let step1 = !progress.deliverFinish()
        #expect(step1)
        progress.ended()
        #expect(progress == .complete && progress.isComplete)
        let step2 = progress.deliverFinish()
        #expect(step2)
        let step3 = !progress.deliverFinish()
        #expect(step3, "told once")
        let step4 = !progress.beginDraining(until: 5, allowance: 100)
        #expect(step4)
        var early = RequestProgress.receiving
        let step5 = early.beginDraining(until: 5, allowance: 100)
        #expect(step5)
        #expect(early.drainDeadline == 5)
        early.ended()
        #expect(early == .draining(until: 5, allowance: 100) && !early.isComplete, "nobody is told of a drained request's end")
    }

    @Test("request progress: a drain credits the stream for its allowance, then no more")
    func drainAllowance() {
        var progress = RequestProgress.receiving
        let notDraining = !progress.drained(1)
        #expect(notDraining, "only a draining request has an allowance")
        let began = progress.beginDraining(until: 9, allowance: 100)
        #expect(began)
        let first = progress.drained(60)
        #expect(first)
        let beyond = !progress.drained(41)
        #expect(beyond, "41 bytes do not fit the 40 left")
        let rest = progress.drained(40)
        #expect(rest)
        let spent = !progress.drained(1)
        #expect(spent)
        #expect(progress == .draining(until: 9, allowance: 0))
    }

    @Test("response progress: no head → head → end queued → end sent; a bodiless head ends at once")
    func responseProgress() {
        var progress = ResponseProgress.noHead
        let step6 = !progress.endQueued() && !progress.endSent()
        #expect(step6)
        let step7 = progress.headSent(endStream: false)
        #expect(step7)
        let step8 = !progress.headSent(endStream: false)
        #expect(step8, "one final head")
        #expect(progress.isHeadSent && !progress.isEndRequested)
        let step9 = !progress.endSent()
        #expect(step9, "END_STREAM is written only once queued")
        let step10 = progress.endQueued() && progress.isEndRequested
        #expect(step10)
        let step11 = progress.endSent()
        #expect(step11)
        let step12 = !progress.endQueued()
        #expect(step12)
        var bodiless = ResponseProgress.noHead
        let step13 = bodiless.headSent(endStream: true) && bodiless == .endSent
        #expect(step13)
    }

    @Test("§3.4, §6.8: the connection state")
    func connectionState() {
        var state = ConnectionState.awaitingPreface
        let step14 = state.receivedFrame(.settings, ack: false) != .ok
        #expect(step14, "a frame before the preface")
        let step15 = state.receivedPreface(valid: true) == .ok && state == .awaitingSettings
        #expect(step15)
        let step16 = state.receivedFrame(.ping, ack: false) == .connectionError(Rejection(.prefaceWithoutSettings, "the first frame after the preface must be SETTINGS, got PING"))
        #expect(step16)
        var fresh = ConnectionState.awaitingSettings
        let step17 = fresh.receivedFrame(.settings, ack: true) != .ok
        #expect(step17, "an ACK is not the client's SETTINGS")
        let step18 = fresh.receivedFrame(.settings, ack: false) == .ok && fresh == .active
        #expect(step18)
        #expect(fresh.acceptsNewStream(101))
        let step19 = fresh.beginShutdown() == .announceShutdown && fresh.beginShutdown() == .none
        #expect(step19)
        #expect(fresh.acceptsNewStream(103), "streams may still start after the first GOAWAY")
        let step19b = fresh.finishShutdown(lastStreamID: 5, streamsOpen: true)
        #expect(step19b == .goAway(lastStreamID: 5, reason: "", thenClose: false))
        #expect(fresh.acceptsNewStream(5) && !fresh.acceptsNewStream(7))
        fresh.fail()
        let step20 = !fresh.isReading && fresh.receivedFrame(.data, ack: false) == .ignore
        #expect(step20)
        var bad = ConnectionState.awaitingPreface
        let step21 = bad.receivedPreface(valid: false) == .connectionError(Rejection(.badPreface, "invalid connection preface"))
        #expect(step21)
    }

    /// (state before, event) → (state after, action): §6.8's graceful
    /// shutdown, the client's GOAWAY, the last stream ending and the idle
    /// timeout, for every state each can meet.
    @Test("§6.8: shutdown, GOAWAY, last stream and idle decisions")
    func connectionActions() {
        typealias State = ConnectionState
        let final5 = State.draining(.final(lastStreamID: 5))
        func run(_ state: State, _ event: (inout State) -> State.Action) -> (State, State.Action) {
            var state = state
            let action = event(&state)
            return (state, action)
        }
        let cases: [(String, State, (inout State) -> State.Action, State, State.Action)] = [
            ("shutdown while serving", .active, { $0.beginShutdown() }, .draining(.announced), .announceShutdown),
            ("shutdown before the preface", .awaitingPreface, { $0.beginShutdown() }, .closed,
             .goAway(lastStreamID: 0, reason: "shutting down", thenClose: true)),
            ("shutdown before SETTINGS", .awaitingSettings, { $0.beginShutdown() }, .closed,
             .goAway(lastStreamID: 0, reason: "shutting down", thenClose: true)),
            ("shutdown twice", .draining(.announced), { $0.beginShutdown() }, .draining(.announced), .none),
            ("shutdown while closing", .closing, { $0.beginShutdown() }, .closing, .none),
            ("PING back, streams open", .draining(.announced), { $0.finishShutdown(lastStreamID: 5, streamsOpen: true) }, final5,
             .goAway(lastStreamID: 5, reason: "", thenClose: false)),
            ("PING back, nothing open", .draining(.announced), { $0.finishShutdown(lastStreamID: 5, streamsOpen: false) }, .closed,
             .goAway(lastStreamID: 5, reason: "", thenClose: true)),
            ("PING back twice", final5, { $0.finishShutdown(lastStreamID: 7, streamsOpen: false) }, final5, .none),
            ("PING back without a shutdown", .active, { $0.finishShutdown(lastStreamID: 7, streamsOpen: false) }, .active, .none),
            ("client GOAWAY, streams open", .active, { $0.receivedGoAway(code: .noError, lastStreamID: 5, streamsOpen: true) }, final5, .none),
            ("client GOAWAY, nothing open", .active, { $0.receivedGoAway(code: .noError, lastStreamID: 5, streamsOpen: false) }, .closed,
             .close),
            ("client GOAWAY while draining", .draining(.announced),
             { $0.receivedGoAway(code: .noError, lastStreamID: 5, streamsOpen: true) }, final5, .none),
            ("client GOAWAY with an error", .active, { $0.receivedGoAway(code: .protocolError, lastStreamID: 5, streamsOpen: true) },
             .closing, .abandonStreams),
            ("last stream ends while serving", .active, { $0.lastStreamClosed() }, .active, .armIdleTimer),
            ("last stream ends after the final GOAWAY", final5, { $0.lastStreamClosed() }, .closed, .close),
            ("last stream ends before the final GOAWAY", .draining(.announced), { $0.lastStreamClosed() }, .draining(.announced), .none),
            ("last stream ends while closing", .closing, { $0.lastStreamClosed() }, .closing, .none),
            ("idle timeout", .active, { $0.idleTimedOut(lastStreamID: 9, streamsOpen: false) }, .closing,
             .goAway(lastStreamID: 9, reason: "idle timeout", thenClose: true)),
            ("idle timeout with a stream open", .active, { $0.idleTimedOut(lastStreamID: 9, streamsOpen: true) }, .active, .none),
            ("idle timeout while draining", final5, { $0.idleTimedOut(lastStreamID: 9, streamsOpen: false) }, final5, .none),
        ]
        for (name, before, event, after, action) in cases {
            let (state, result) = run(before, event)
            #expect(state == after && result == action, "\(name): \(state), \(result)")
        }
    }

    @Test("§3.4: the preface is matched byte by byte as it arrives; the first wrong byte is a mismatch")
    func prefaceMatch() {
        func match(_ bytes: [UInt8]) -> ConnectionState.PrefaceMatch { bytes.withUnsafeBytes { ConnectionState.matchPreface($0) } }
        let preface = ConnectionState.preface
        #expect(match([]) == .partial)
        #expect(match(Array(preface.prefix(10))) == .partial)
        #expect(match(preface) == .complete)
        #expect(match(preface + [0, 0, 0, 4]) == .complete, "frames may follow in the same read")
        #expect(match(Array("PRI * HTTP/1.1".utf8)) == .mismatch)
        #expect(match(Array("GET / HTTP/1.1\r\n".utf8)) == .mismatch)
    }

    @Test("§6.5.2: settings are validated and applied; unknown ones ignored", arguments: [
        (SettingsParameter.enablePush, UInt32(2), "settings_enable_push"),
        (.initialWindowSize, 0x8000_0000, "settings_initial_window"),
        (.maxFrameSize, 16_383, "settings_max_frame_size"),
        (.maxFrameSize, 16_777_216, "settings_max_frame_size"),
        (.enableConnectProtocol, 2, "settings_connect_protocol"),
        (.noRFC7540Priorities, 2, "settings_no_rfc7540_priorities"),
    ])
    func badSettings(parameter: SettingsParameter, value: UInt32, token: String) {
        var settings = PeerSettings()
        let step22 = settings.apply(parameter, value)?.token == token
        #expect(step22)
        #expect(settings == PeerSettings(), "a refused value changes nothing")
    }

    @Test("§6.5.3: a SETTINGS frame is applied in order; the change says the window delta, the smallest table size, and stops at the first bad value")
    func wholeFrame() {
        var settings = PeerSettings()
        let change = settings.apply([(.headerTableSize, 1000), (.initialWindowSize, 100_000), (.headerTableSize, 8192),
                                     (.initialWindowSize, 70_000)])
        #expect(change == SettingsChange(rejection: nil, initialWindowDelta: 70_000 - 65_535, smallestHeaderTableSize: 1000))
        #expect(settings.headerTableSize == 8192 && settings.initialWindowSize == 70_000)
        let none = settings.apply([(SettingsParameter.maxConcurrentStreams, UInt32(10))])
        #expect(none == SettingsChange(rejection: nil, initialWindowDelta: 0, smallestHeaderTableSize: nil))
        let bad = settings.apply([(.initialWindowSize, 1000), (.enablePush, 2), (.maxFrameSize, 20_000)])
        #expect(bad.rejection?.token == "settings_enable_push")
        #expect(bad.initialWindowDelta == 1000 - 70_000, "what came before the bad value was applied")
        #expect(settings.maxFrameSize == 16_384, "what came after it was not")
    }

    @Test("§6.5.2: accepted settings take effect")
    func goodSettings() {
        var settings = PeerSettings()
        let step23 = settings.apply(.initialWindowSize, 0x7FFF_FFFF) == nil
        #expect(step23)
        let step24 = settings.apply(.maxFrameSize, 16_777_215) == nil
        #expect(step24)
        let step25 = settings.apply(.enablePush, 0) == nil
        #expect(step25)
        let step26 = settings.apply(.noRFC7540Priorities, 1) == nil
        #expect(step26)
        let step27 = settings.apply(SettingsParameter(rawValue: 0xABCD), 99) == nil
        #expect(step27)
        #expect(settings.initialWindowSize == 0x7FFF_FFFF && settings.maxFrameSize == 16_777_215)
        #expect(!settings.enablePush && settings.noRFC7540Priorities)
    }

    final class Entry: SchedulableStream {
        let id: UInt32
        var isLive = true
        var isScheduled = false
        var scheduleEpoch: UInt32 = 0
        var schedulingPriority = HTTPPriority.default
        init(_ id: UInt32) { self.id = id }
    }

    @Test("the stream table agrees with a dictionary through inserts and removals, growing as needed")
    func streamTable() {
        var table = StreamTable<Entry>(capacity: 4)
        var reference: [UInt32: Entry] = [:]
        var generator = SystemRandomNumberGenerator()
        var next: UInt32 = 1
        for _ in 0..<5000 {
            if reference.count < 40 && (reference.isEmpty || Bool.random(using: &generator)) {
                let entry = Entry(next)
                next += 2 * UInt32.random(in: 1...3, using: &generator)
                table.insert(entry)
                reference[entry.id] = entry
            } else {
                let id = reference.keys.randomElement(using: &generator)!
                #expect(table.remove(id) === reference[id], "the removed stream is handed back")
                reference[id] = nil
            }
            #expect(table.count == reference.count)
        }
        for (id, entry) in reference { #expect(table[id] === entry) }
        #expect(table[next] == nil)
        #expect(table.remove(next) == nil && table.count == reference.count, "removing an absent id changes nothing")
        var visited = 0
        table.forEach { _ in visited += 1 }
        #expect(visited == reference.count)
    }

    @Test("recently closed streams remember how they closed, the last 64")
    func recentlyClosed() {
        var closed = RecentlyClosedStreams()
        closed.record(1, .localReset)
        closed.record(3, .endStream)
        #expect(closed.lookup(1) == .localReset && closed.lookup(3) == .endStream && closed.lookup(5) == nil)
        for id in stride(from: UInt32(5), to: 5 + 2 * 64, by: 2) { closed.record(id, .peerReset) }
        #expect(closed.lookup(1) == nil, "forgotten after 64 more")
        #expect(closed.lookup(5 + 2 * 63) == .peerReset)
        // Every slot keeps its own way of closing, whatever its neighbours'.
        let ways: [StreamState.ClosedBy] = [.endStream, .peerReset, .localReset]
        for slot in 0..<64 { closed.record(UInt32(1001 + 2 * slot), ways[slot % 3]) }
        #expect((0..<64).allSatisfy { closed.lookup(UInt32(1001 + 2 * $0)) == ways[$0 % 3] })
        for slot in 0..<64 { closed.record(UInt32(2001 + 2 * slot), ways[(slot + 1) % 3]) }
        #expect((0..<64).allSatisfy { closed.lookup(UInt32(2001 + 2 * $0)) == ways[($0 + 1) % 3] }, "overwritten, not or-ed")
    }
}
