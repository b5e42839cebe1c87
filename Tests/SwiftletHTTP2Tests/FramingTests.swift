import SwiftletHTTP2
import SwiftletLoop
import SwiftletTestSupport
import Testing

/// RFC 9113 §3.4 (preface), §4 (framing) and §6 (frame definitions).
@Suite("RFC 9113 §3-§4, §6: preface and frames", .serialized)
struct FramingTests {
    let server: TestServer
    init() throws { server = try TestServer() }

    // MARK: §3.4

    @Test("§3.4 an invalid preface is a connection error PROTOCOL_ERROR")
    func invalidPreface() throws {
        let client = try server.rawClient(preface: false)
        try client.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(try client.expectGoAway().code == .protocolError)
        #expect(client.readsToEOF())
        #expect(try server.rejections("bad_preface") == 1)
    }

    @Test("§3.4 the preface must be followed by SETTINGS")
    func prefaceWithoutSettings() throws {
        let client = try server.rawClient(preface: false)
        try client.send(ConnectionState.preface + FrameClient.ping(1))
        #expect(try client.expectGoAway().code == .protocolError)
        #expect(try server.rejections("preface_without_settings") == 1)
    }

    // MARK: §4

    @Test("§4.1 unknown frame types and flags are ignored")
    func unknownTypesAndFlags() throws {
        let client = try server.client()
        try client.send(FrameClient.frame(FrameType(rawValue: 0xEE), flags: FrameFlags(rawValue: 0xFF), stream: 1, payload: [1, 2, 3]))
        try client.send(FrameClient.frame(.ping, flags: FrameFlags(rawValue: 0xFE), stream: 0, payload: [UInt8](repeating: 7, count: 8)))
        let (pong, _) = try client.read { if case .ping = $0 { true } else { false } }
        #expect(pong == .ping(ack: true, payload: 0x0707_0707_0707_0707), "flag bits other than ACK were ignored")
        try client.expectNoReaction()
    }

    @Test("§4.1 the reserved bit of the stream id is ignored")
    func reservedBit() throws {
        let client = try server.client()
        var frame = client.headers(stream: 1, FrameClient.get("/hello"), endStream: true)
        frame[5] |= 0x80
        try client.send(frame)
        #expect(try client.response(stream: 1).status == "200")
    }

    @Test("§4.2 a frame above SETTINGS_MAX_FRAME_SIZE is FRAME_SIZE_ERROR")
    func frameTooLarge() throws {
        try server.expectConnectionError({ _ in FrameClient.frame(.data, stream: 1, payload: [UInt8](repeating: 0, count: 16_385)) },
                                         code: .frameSizeError, token: "frame_too_large")
    }

    @Test("§4.3 a header block that fails to decode is COMPRESSION_ERROR")
    func compressionError() throws {
        try server.expectConnectionError({ $0.headers(stream: 1, block: [0x80], endStream: true) },
                                         code: .compressionError, token: "hpack_invalid_index")
    }

    @Test("RFC 7541 §6.3 a table size update above our setting is COMPRESSION_ERROR")
    func sizeUpdateTooLarge() throws {
        try server.expectConnectionError({ $0.headers(stream: 1, block: [0x3F, 0xE2, 0x1F, 0x82], endStream: true) },
                                         code: .compressionError, token: "hpack_size_update_too_large")
    }

    @Test("RFC 7541 §4.2 a table size update after a field is COMPRESSION_ERROR")
    func sizeUpdateAfterField() throws {
        try server.expectConnectionError({ $0.headers(stream: 1, block: [0x82, 0x20], endStream: true) },
                                         code: .compressionError, token: "hpack_size_update_position")
    }

    // MARK: §6.1 DATA

    @Test("§6.1 DATA on stream 0 is PROTOCOL_ERROR")
    func dataOnStreamZero() throws {
        try server.expectConnectionError({ _ in FrameClient.data(stream: 0, [1]) }, code: .protocolError, token: "data_on_stream_zero")
    }

    @Test("§6.1 DATA padding as long as the payload is PROTOCOL_ERROR")
    func dataPaddingTooLong() throws {
        try server.expectConnectionError({ client in
            client.headers(stream: 1, FrameClient.post("/echo")) + FrameClient.frame(.data, flags: .padded, stream: 1, payload: [5, 1, 2, 3, 4])
        }, code: .protocolError, token: "padding_too_long")
    }

    @Test("§6.1 padding is stripped and counted in flow control")
    func paddedData() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.post("/echo")))
        try client.send(FrameClient.data(stream: 1, Array("abc".utf8), padding: 10))
        try client.send(FrameClient.data(stream: 1, Array("def".utf8), endStream: true, padding: 255))
        let response = try client.response(stream: 1)
        #expect(response.body == Array("abcdef".utf8))
    }

    // MARK: §6.2 HEADERS

    @Test("§6.2 HEADERS on stream 0 is PROTOCOL_ERROR")
    func headersOnStreamZero() throws {
        try server.expectConnectionError({ $0.headers(stream: 0, FrameClient.get("/hello"), endStream: true) },
                                         code: .protocolError, token: "headers_on_stream_zero")
    }

    @Test("§6.2 HEADERS padding beyond the payload is PROTOCOL_ERROR")
    func headersPaddingTooLong() throws {
        try server.expectConnectionError({ _ in FrameClient.frame(.headers, flags: [.padded, .endHeaders], stream: 1, payload: [9, 0x82]) },
                                         code: .protocolError, token: "padding_too_long")
    }

    @Test("§6.2 padded HEADERS with priority fields are accepted")
    func paddedHeadersWithPriority() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.get("/hello"), endStream: true, padding: 20, dependsOn: 0))
        #expect(try client.response(stream: 1).status == "200")
    }

    // MARK: §6.3 PRIORITY

    @Test("§6.3 PRIORITY on stream 0 is PROTOCOL_ERROR")
    func priorityOnStreamZero() throws {
        try server.expectConnectionError({ _ in FrameClient.priority(stream: 0, dependsOn: 1) }, code: .protocolError, token: "priority_on_stream_zero")
    }

    @Test("§6.3 PRIORITY of a length other than 5 is a stream FRAME_SIZE_ERROR")
    func priorityFrameSize() throws {
        try server.expectStreamError({ _ in FrameClient.frame(.priority, stream: 3, payload: [0, 0, 0, 1]) },
                                     stream: 3, code: .frameSizeError, token: "priority_frame_size")
    }

    @Test("§5.3.1 PRIORITY making a stream depend on itself is a stream PROTOCOL_ERROR")
    func prioritySelfDependency() throws {
        try server.expectStreamError({ _ in FrameClient.priority(stream: 5, dependsOn: 5) },
                                     stream: 5, code: .protocolError, token: "self_dependency")
    }

    @Test("§5.3.1 HEADERS making a stream depend on itself is a stream PROTOCOL_ERROR")
    func headersSelfDependency() throws {
        try server.expectStreamError({ $0.headers(stream: 1, FrameClient.get("/hello"), endStream: true, dependsOn: 1) },
                                     stream: 1, code: .protocolError, token: "self_dependency")
    }

    @Test("§6.3 PRIORITY on idle and closed streams is allowed")
    func priorityAnywhere() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.get("/hello"), endStream: true))
        _ = try client.response(stream: 1)
        try client.send(FrameClient.priority(stream: 1, dependsOn: 0) + FrameClient.priority(stream: 99, dependsOn: 1))
        try client.expectNoReaction()
    }

    // MARK: §6.4 RST_STREAM

    @Test("§6.4 RST_STREAM of a length other than 4 is FRAME_SIZE_ERROR")
    func rstStreamFrameSize() throws {
        try server.expectConnectionError({ _ in FrameClient.frame(.rstStream, stream: 1, payload: [0, 0, 0]) },
                                         code: .frameSizeError, token: "rst_stream_frame_size")
    }

    @Test("§6.4 RST_STREAM on stream 0 is PROTOCOL_ERROR")
    func rstStreamOnStreamZero() throws {
        try server.expectConnectionError({ _ in FrameClient.rstStream(stream: 0, code: .cancel) }, code: .protocolError, token: "rst_stream_on_stream_zero")
    }

    @Test("§6.4 RST_STREAM on an idle stream is PROTOCOL_ERROR")
    func rstStreamOnIdleStream() throws {
        try server.expectConnectionError({ _ in FrameClient.rstStream(stream: 7, code: .cancel) }, code: .protocolError, token: "frame_on_idle_stream")
    }

    @Test("§6.4 RST_STREAM cancels the exchange; the handler is told")
    func rstStreamCancels() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.get("/hold")))
        try client.expectAlive()  // the handler started (a reset in the same read would keep it from starting)
        try client.send(FrameClient.rstStream(stream: 1, code: .cancel))
        try client.expectNoReaction()
        #expect(server.events.contains("close 1 cancelled by peer (error code 8)"))
    }

    // MARK: §6.5 SETTINGS

    @Test("§6.5 SETTINGS on a stream is PROTOCOL_ERROR")
    func settingsOnStream() throws {
        try server.expectConnectionError({ _ in FrameClient.frame(.settings, stream: 1) }, code: .protocolError, token: "settings_on_stream")
    }

    @Test("§6.5 SETTINGS ACK with a payload is FRAME_SIZE_ERROR")
    func settingsAckWithPayload() throws {
        try server.expectConnectionError({ _ in FrameClient.frame(.settings, flags: .ack, stream: 0, payload: [0, 0, 0, 0, 0, 0]) },
                                         code: .frameSizeError, token: "settings_ack_with_payload")
    }

    @Test("§6.5 SETTINGS whose length is not a multiple of 6 is FRAME_SIZE_ERROR")
    func settingsFrameSize() throws {
        try server.expectConnectionError({ _ in FrameClient.frame(.settings, stream: 0, payload: [0, 1, 0, 0, 0]) },
                                         code: .frameSizeError, token: "settings_frame_size")
    }

    @Test("§6.5.2 SETTINGS_ENABLE_PUSH other than 0 or 1 is PROTOCOL_ERROR")
    func settingsEnablePush() throws {
        try server.expectConnectionError({ _ in FrameClient.settings([(.enablePush, 2)]) }, code: .protocolError, token: "settings_enable_push")
    }

    @Test("§6.5.2 SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 is FLOW_CONTROL_ERROR")
    func settingsInitialWindow() throws {
        try server.expectConnectionError({ _ in FrameClient.settings([(.initialWindowSize, 0x8000_0000)]) },
                                         code: .flowControlError, token: "settings_initial_window")
    }

    @Test("§6.5.2 SETTINGS_MAX_FRAME_SIZE outside 2^14...2^24-1 is PROTOCOL_ERROR", arguments: [UInt32(16_383), 16_777_216])
    func settingsMaxFrameSize(value: UInt32) throws {
        try server.expectConnectionError({ _ in FrameClient.settings([(.maxFrameSize, value)]) }, code: .protocolError, token: "settings_max_frame_size")
    }

    @Test("§6.5 SETTINGS is acknowledged; unknown parameters are ignored")
    func settingsAcknowledged() throws {
        let client = try server.client()
        try client.send(FrameClient.settings([(SettingsParameter(rawValue: 0x77), 12345), (.maxHeaderListSize, 8192)]))
        let (ack, _) = try client.read { if case .settings = $0 { true } else { false } }
        #expect(ack == .settings(ack: true, parameters: []))
    }

    @Test("RFC 9218 §2.1 SETTINGS_NO_RFC7540_PRIORITIES other than 0 or 1 is PROTOCOL_ERROR")
    func settingsNoPriorities() throws {
        try server.expectConnectionError({ _ in FrameClient.settings([(.noRFC7540Priorities, 2)]) },
                                         code: .protocolError, token: "settings_no_rfc7540_priorities")
    }

    // MARK: §6.7 PING

    @Test("§6.7 PING is answered with an ACK carrying the same payload; a PING ACK is not answered")
    func ping() throws {
        let client = try server.client()
        try client.send(FrameClient.ping(0x0102_0304_0506_0708))
        let (pong, _) = try client.read { if case .ping = $0 { true } else { false } }
        #expect(pong == .ping(ack: true, payload: 0x0102_0304_0506_0708))
        try client.send(FrameClient.ping(99, ack: true))
        try client.expectAlive()
    }

    @Test("§6.7 PING of a length other than 8 is FRAME_SIZE_ERROR")
    func pingFrameSize() throws {
        try server.expectConnectionError({ _ in FrameClient.frame(.ping, stream: 0, payload: [1, 2, 3]) }, code: .frameSizeError, token: "ping_frame_size")
    }

    @Test("§6.7 PING on a stream is PROTOCOL_ERROR")
    func pingOnStream() throws {
        try server.expectConnectionError({ _ in FrameClient.frame(.ping, stream: 1, payload: [UInt8](repeating: 0, count: 8)) },
                                         code: .protocolError, token: "ping_on_stream")
    }

    // MARK: §6.8 GOAWAY

    @Test("§6.8 GOAWAY on a stream is PROTOCOL_ERROR")
    func goAwayOnStream() throws {
        try server.expectConnectionError({ _ in FrameClient.frame(.goAway, stream: 1, payload: [UInt8](repeating: 0, count: 8)) },
                                         code: .protocolError, token: "goaway_on_stream")
    }

    @Test("§6.8 after the client's GOAWAY the server finishes open streams and closes")
    func clientGoAway() throws {
        let client = try server.client()
        try client.send(client.headers(stream: 1, FrameClient.get("/hello"), endStream: true) + FrameClient.goAway(lastStreamID: 0, code: .noError))
        #expect(try client.response(stream: 1).status == "200")
        #expect(client.readsToEOF())
    }

    // MARK: §6.9 WINDOW_UPDATE

    @Test("§6.9 WINDOW_UPDATE of a length other than 4 is FRAME_SIZE_ERROR")
    func windowUpdateFrameSize() throws {
        try server.expectConnectionError({ _ in FrameClient.frame(.windowUpdate, stream: 0, payload: [0, 0, 1]) },
                                         code: .frameSizeError, token: "window_update_frame_size")
    }

    @Test("§6.9 a WINDOW_UPDATE of 0 on the connection is a connection PROTOCOL_ERROR")
    func windowUpdateZeroConnection() throws {
        try server.expectConnectionError({ _ in FrameClient.windowUpdate(stream: 0, increment: 0) }, code: .protocolError, token: "window_update_zero")
    }

    @Test("§6.9 a WINDOW_UPDATE of 0 on a stream is a stream PROTOCOL_ERROR")
    func windowUpdateZeroStream() throws {
        try server.expectStreamError({ $0.headers(stream: 1, FrameClient.get("/hold")) + FrameClient.windowUpdate(stream: 1, increment: 0) },
                                     stream: 1, code: .protocolError, token: "window_update_zero")
    }

    @Test("§6.9.1 a connection window above 2^31-1 is FLOW_CONTROL_ERROR")
    func connectionWindowOverflow() throws {
        try server.expectConnectionError({ _ in FrameClient.windowUpdate(stream: 0, increment: 0x7FFF_FFFF) },
                                         code: .flowControlError, token: "window_overflow")
    }

    @Test("§6.9.1 a stream window above 2^31-1 is a stream FLOW_CONTROL_ERROR")
    func streamWindowOverflow() throws {
        try server.expectStreamError({ $0.headers(stream: 1, FrameClient.get("/hold")) + FrameClient.windowUpdate(stream: 1, increment: 0x7FFF_FFFF) },
                                     stream: 1, code: .flowControlError, token: "window_overflow")
    }

    @Test("§6.9 WINDOW_UPDATE on an idle stream is PROTOCOL_ERROR")
    func windowUpdateIdle() throws {
        try server.expectConnectionError({ _ in FrameClient.windowUpdate(stream: 9, increment: 10) }, code: .protocolError, token: "frame_on_idle_stream")
    }

    // MARK: §6.10 CONTINUATION

    @Test("§6.10 HEADERS continued by CONTINUATION frames form one block")
    func continuation() throws {
        let client = try server.client()
        let block = client.block(FrameClient.get("/fields", extra: (0..<40).map { ("x-extra-\($0)", String(repeating: "v", count: 50)) }))
        let third = block.count / 3
        try client.send(client.headers(stream: 1, block: Array(block[..<third]), endStream: true, endHeaders: false)
            + FrameClient.continuation(stream: 1, Array(block[third..<(2 * third)]), endHeaders: false)
            + FrameClient.continuation(stream: 1, Array(block[(2 * third)...]), endHeaders: true))
        let response = try client.response(stream: 1)
        #expect(response.status == "200")
        #expect(response.fields.first { $0.name == "x-field-count" }?.value == "40")
    }

    @Test("§6.10 CONTINUATION without HEADERS is PROTOCOL_ERROR")
    func continuationAlone() throws {
        try server.expectConnectionError({ _ in FrameClient.continuation(stream: 1, [0x82], endHeaders: true) },
                                         code: .protocolError, token: "unexpected_continuation")
    }

    @Test("§6.10 any other frame inside a header block is PROTOCOL_ERROR")
    func interleavedFrame() throws {
        try server.expectConnectionError({ client in
            client.headers(stream: 1, FrameClient.get("/hello"), endStream: true, endHeaders: false) + FrameClient.ping(1)
        }, code: .protocolError, token: "interleaved_header_block")
    }

    @Test("§6.10 CONTINUATION on another stream is PROTOCOL_ERROR")
    func continuationOtherStream() throws {
        try server.expectConnectionError({ client in
            client.headers(stream: 1, FrameClient.get("/hello"), endStream: true, endHeaders: false)
                + FrameClient.continuation(stream: 3, [], endHeaders: true)
        }, code: .protocolError, token: "interleaved_header_block")
    }

    // MARK: §8.4

    @Test("§8.4 PUSH_PROMISE from a client is PROTOCOL_ERROR")
    func pushPromise() throws {
        try server.expectConnectionError({ _ in FrameClient.frame(.pushPromise, flags: .endHeaders, stream: 1, payload: [0, 0, 0, 2, 0x82]) },
                                         code: .protocolError, token: "push_promise_from_client")
    }

    // MARK: RFC 9218 PRIORITY_UPDATE

    @Test("RFC 9218 §7.1 PRIORITY_UPDATE on a stream, or for stream 0, is PROTOCOL_ERROR")
    func priorityUpdateRules() throws {
        try server.expectConnectionError({ _ in FrameClient.frame(.priorityUpdate, stream: 1, payload: FrameClient.u32(1) + Array("u=1".utf8)) },
                                         code: .protocolError, token: "priority_update_stream")
        try server.expectConnectionError({ _ in FrameClient.frame(.priorityUpdate, stream: 0, payload: FrameClient.u32(0) + Array("u=1".utf8)) },
                                         code: .protocolError, token: "priority_update_stream_zero")
    }
}
