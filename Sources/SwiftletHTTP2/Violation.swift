import SwiftletHPACK

/// Every way a peer can break HTTP/2's rules (or Swiftlet's limits), in one
/// catalogue: the error code RFC 9113 requires, a stable token (counted in
/// `HTTP2Counters`, logged at debug level), the RFC section and a one-line
/// summary. A `Rejection` is a violation plus the human reason for this
/// instance (sent as GOAWAY debug data).
///
/// docs/architecture.md's table of rejections is checked against this
/// catalogue by a test (`ViolationCatalogueTests`), so the two cannot drift.
public enum Violation: String, CaseIterable, Sendable {
    // MARK: connection preface (§3.4)
    case badPreface = "bad_preface"
    case prefaceWithoutSettings = "preface_without_settings"
    case prefaceTimeout = "preface_timeout"
    case settingsTimeout = "settings_timeout"

    // MARK: frame format (§4, §6)
    case frameTooLarge = "frame_too_large"
    case dataOnStreamZero = "data_on_stream_zero"
    case headersOnStreamZero = "headers_on_stream_zero"
    case paddedFrameTooShort = "padded_frame_too_short"
    case paddingTooLong = "padding_too_long"
    case headersPriorityTooShort = "headers_priority_too_short"
    case priorityOnStreamZero = "priority_on_stream_zero"
    case priorityFrameSize = "priority_frame_size"
    case selfDependency = "self_dependency"
    case rstStreamFrameSize = "rst_stream_frame_size"
    case rstStreamOnStreamZero = "rst_stream_on_stream_zero"
    case settingsOnStream = "settings_on_stream"
    case settingsAckWithPayload = "settings_ack_with_payload"
    case settingsFrameSize = "settings_frame_size"
    case settingsEnablePush = "settings_enable_push"
    case settingsInitialWindow = "settings_initial_window"
    case settingsMaxFrameSize = "settings_max_frame_size"
    case settingsConnectProtocol = "settings_connect_protocol"
    case settingsNoRFC7540Priorities = "settings_no_rfc7540_priorities"
    case pushPromiseFromClient = "push_promise_from_client"
    case pingFrameSize = "ping_frame_size"
    case pingOnStream = "ping_on_stream"
    case goAwayOnStream = "goaway_on_stream"
    case goAwayFrameSize = "goaway_frame_size"
    case windowUpdateFrameSize = "window_update_frame_size"
    case priorityUpdateStream = "priority_update_stream"
    case priorityUpdateSize = "priority_update_size"
    case priorityUpdateStreamZero = "priority_update_stream_zero"

    // MARK: stream states and identifiers (§5.1)
    case frameOnIdleStream = "frame_on_idle_stream"
    case frameOnHalfClosedStream = "frame_on_half_closed_stream"
    case dataOnClosedStream = "data_on_closed_stream"
    case headersOnClosedStream = "headers_on_closed_stream"
    case streamIDNotIncreasing = "stream_id_not_increasing"
    case evenStreamID = "even_stream_id"
    case maxConcurrentStreams = "max_concurrent_streams"

    // MARK: flow control (§6.9)
    case connectionWindowExceeded = "connection_window_exceeded"
    case streamWindowExceeded = "stream_window_exceeded"
    case windowUpdateZero = "window_update_zero"
    case windowOverflow = "window_overflow"
    case settingsWindowOverflow = "settings_window_overflow"

    // MARK: field blocks (§4.3, §6.10, RFC 7541)
    case interleavedHeaderBlock = "interleaved_header_block"
    case unexpectedContinuation = "unexpected_continuation"
    case headerBlockTimeout = "header_block_timeout"
    case hpackTruncated = "hpack_truncated"
    case hpackIntegerOverflow = "hpack_integer_overflow"
    case hpackInvalidIndex = "hpack_invalid_index"
    case hpackStringTooLong = "hpack_string_too_long"
    case hpackHuffmanEOS = "hpack_huffman_eos"
    case hpackHuffmanPadding = "hpack_huffman_padding"
    case hpackHeaderListTooLarge = "hpack_header_list_too_large"
    case hpackTooManyFields = "hpack_too_many_fields"
    case hpackSizeUpdatePosition = "hpack_size_update_position"
    case hpackSizeUpdateTooLarge = "hpack_size_update_too_large"
    case hpackSizeUpdateMissing = "hpack_size_update_missing"

    // MARK: HTTP messages (§8)
    case trailersWithoutEndStream = "trailers_without_end_stream"
    case contentLengthMismatch = "content_length_mismatch"
    case invalidContentLength = "invalid_content_length"
    case emptyHeaderName = "empty_header_name"
    case uppercaseHeaderName = "uppercase_header_name"
    case invalidHeaderName = "invalid_header_name"
    case invalidHeaderValue = "invalid_header_value"
    case headerValueWhitespace = "header_value_whitespace"
    case connectionSpecificHeader = "connection_specific_header"
    case teNotTrailers = "te_not_trailers"
    case pseudoHeaderAfterRegular = "pseudo_header_after_regular"
    case pseudoHeaderInTrailers = "pseudo_header_in_trailers"
    case unknownPseudoHeader = "unknown_pseudo_header"
    case duplicatePseudoHeader = "duplicate_pseudo_header"
    case emptyMethod = "empty_method"
    case emptyScheme = "empty_scheme"
    case emptyPath = "empty_path"
    case invalidPath = "invalid_path"
    case missingPseudoHeader = "missing_pseudo_header"
    case connectWithPath = "connect_with_path"
    case connectWithoutAuthority = "connect_without_authority"
    case protocolWithoutConnect = "protocol_without_connect"
    case extendedConnectIncomplete = "extended_connect_incomplete"
    case missingAuthority = "missing_authority"
    case emptyAuthority = "empty_authority"
    case authorityHostMismatch = "authority_host_mismatch"

    // MARK: floods and abuse (§10.5)
    case rapidReset = "rapid_reset"
    case tooManyGlitches = "too_many_glitches"
    case emptyDataFlood = "empty_data_flood"
    case smallFrameFlood = "small_frame_flood"
    case pingFlood = "ping_flood"
    case settingsFlood = "settings_flood"
    case streamFlood = "stream_flood"
    case continuationFlood = "continuation_flood"
    case headerBlockTooLarge = "header_block_too_large"
    case windowDribble = "window_dribble"

    // MARK: decided outside the frame layer
    case prohibitedCipher = "prohibited_cipher"

    // MARK: our own mistakes (a handler sending on a stream that cannot send)
    case sendOnIdleStream = "send_on_idle_stream"
    case sendAfterEndStream = "send_after_end_stream"

    /// The stable token: counted, logged, and the key of `HTTP2Counters.rejections`.
    public var token: String { rawValue }

    /// The error code RFC 9113 requires (GOAWAY for a connection error,
    /// RST_STREAM for a stream error).
    public var code: ErrorCode {
        switch self {
        case .badPreface, .prefaceWithoutSettings, .prefaceTimeout, .dataOnStreamZero, .headersOnStreamZero,
             .paddingTooLong, .priorityOnStreamZero, .selfDependency, .rstStreamOnStreamZero, .settingsOnStream,
             .settingsEnablePush, .settingsMaxFrameSize, .settingsConnectProtocol, .settingsNoRFC7540Priorities,
             .pushPromiseFromClient, .pingOnStream, .goAwayOnStream, .priorityUpdateStream, .priorityUpdateStreamZero,
             .frameOnIdleStream, .streamIDNotIncreasing, .evenStreamID, .windowUpdateZero, .interleavedHeaderBlock,
             .unexpectedContinuation, .headerBlockTimeout, .trailersWithoutEndStream, .contentLengthMismatch,
             .invalidContentLength, .emptyHeaderName, .uppercaseHeaderName, .invalidHeaderName, .invalidHeaderValue, .headerValueWhitespace,
             .connectionSpecificHeader, .teNotTrailers, .pseudoHeaderAfterRegular, .pseudoHeaderInTrailers,
             .unknownPseudoHeader, .duplicatePseudoHeader, .emptyMethod, .emptyScheme, .emptyPath, .invalidPath,
             .missingPseudoHeader, .connectWithPath, .connectWithoutAuthority, .missingAuthority, .emptyAuthority,
             .authorityHostMismatch, .protocolWithoutConnect, .extendedConnectIncomplete:
            .protocolError
        case .settingsTimeout:
            .settingsTimeout
        case .frameTooLarge, .paddedFrameTooShort, .headersPriorityTooShort, .priorityFrameSize, .rstStreamFrameSize,
             .settingsAckWithPayload, .settingsFrameSize, .pingFrameSize, .goAwayFrameSize, .windowUpdateFrameSize,
             .priorityUpdateSize:
            .frameSizeError
        case .frameOnHalfClosedStream, .dataOnClosedStream, .headersOnClosedStream:
            .streamClosed
        case .maxConcurrentStreams:
            .refusedStream
        case .connectionWindowExceeded, .streamWindowExceeded, .windowOverflow, .settingsWindowOverflow, .settingsInitialWindow:
            .flowControlError
        case .hpackTruncated, .hpackIntegerOverflow, .hpackInvalidIndex, .hpackStringTooLong, .hpackHuffmanEOS,
             .hpackHuffmanPadding, .hpackHeaderListTooLarge, .hpackTooManyFields, .hpackSizeUpdatePosition,
             .hpackSizeUpdateTooLarge, .hpackSizeUpdateMissing:
            .compressionError
        case .rapidReset, .tooManyGlitches, .emptyDataFlood, .smallFrameFlood, .pingFlood, .settingsFlood, .streamFlood,
             .continuationFlood, .headerBlockTooLarge, .windowDribble:
            .enhanceYourCalm
        case .prohibitedCipher:
            .inadequateSecurity
        case .sendOnIdleStream, .sendAfterEndStream:
            .internalError
        }
    }

    /// Where the rule is written.
    public var section: String {
        switch self {
        case .badPreface, .prefaceWithoutSettings, .prefaceTimeout: "RFC 9113 §3.4"
        case .settingsTimeout: "RFC 9113 §6.5.3"
        case .frameTooLarge: "RFC 9113 §4.2"
        case .dataOnStreamZero, .paddedFrameTooShort: "RFC 9113 §6.1"
        case .paddingTooLong: "RFC 9113 §6.1, §6.2"
        case .headersOnStreamZero, .headersPriorityTooShort: "RFC 9113 §6.2"
        case .priorityOnStreamZero, .priorityFrameSize: "RFC 9113 §6.3"
        case .selfDependency: "RFC 7540 §5.3.1"
        case .rstStreamFrameSize, .rstStreamOnStreamZero: "RFC 9113 §6.4"
        case .settingsOnStream, .settingsAckWithPayload, .settingsFrameSize: "RFC 9113 §6.5"
        case .settingsEnablePush, .settingsInitialWindow, .settingsMaxFrameSize: "RFC 9113 §6.5.2"
        case .settingsConnectProtocol: "RFC 8441 §3"
        case .settingsNoRFC7540Priorities: "RFC 9218 §2.1"
        case .pushPromiseFromClient: "RFC 9113 §8.4"
        case .pingFrameSize, .pingOnStream: "RFC 9113 §6.7"
        case .goAwayOnStream, .goAwayFrameSize: "RFC 9113 §6.8"
        case .windowUpdateFrameSize, .windowUpdateZero: "RFC 9113 §6.9"
        case .priorityUpdateStream, .priorityUpdateSize, .priorityUpdateStreamZero: "RFC 9218 §7.1"
        case .frameOnIdleStream, .frameOnHalfClosedStream, .dataOnClosedStream, .headersOnClosedStream: "RFC 9113 §5.1"
        case .streamIDNotIncreasing, .evenStreamID: "RFC 9113 §5.1.1"
        case .maxConcurrentStreams: "RFC 9113 §5.1.2"
        case .connectionWindowExceeded, .streamWindowExceeded, .windowOverflow: "RFC 9113 §6.9.1"
        case .settingsWindowOverflow: "RFC 9113 §6.9.2"
        case .interleavedHeaderBlock, .unexpectedContinuation: "RFC 9113 §6.10"
        case .headerBlockTimeout, .continuationFlood, .headerBlockTooLarge: "RFC 9113 §10.5 (CONTINUATION flood)"
        case .hpackTruncated, .hpackIntegerOverflow, .hpackInvalidIndex, .hpackStringTooLong, .hpackHuffmanEOS,
             .hpackHuffmanPadding, .hpackHeaderListTooLarge, .hpackTooManyFields, .hpackSizeUpdatePosition,
             .hpackSizeUpdateTooLarge, .hpackSizeUpdateMissing:
            "RFC 9113 §4.3, RFC 7541"
        case .trailersWithoutEndStream: "RFC 9113 §8.1"
        case .contentLengthMismatch, .invalidContentLength: "RFC 9113 §8.1.1"
        case .emptyHeaderName, .uppercaseHeaderName, .invalidHeaderName, .invalidHeaderValue, .headerValueWhitespace: "RFC 9113 §8.2.1"
        case .connectionSpecificHeader, .teNotTrailers: "RFC 9113 §8.2.2"
        case .pseudoHeaderAfterRegular, .pseudoHeaderInTrailers, .unknownPseudoHeader, .duplicatePseudoHeader: "RFC 9113 §8.3"
        case .emptyMethod, .emptyScheme, .emptyPath, .invalidPath, .missingPseudoHeader, .missingAuthority,
             .emptyAuthority, .authorityHostMismatch:
            "RFC 9113 §8.3.1"
        case .connectWithPath, .connectWithoutAuthority: "RFC 9113 §8.5"
        case .protocolWithoutConnect, .extendedConnectIncomplete: "RFC 8441 §4"
        case .rapidReset: "RFC 9113 §10.5 (CVE-2023-44487, CVE-2025-8671)"
        case .tooManyGlitches: "RFC 9113 §10.5"
        case .emptyDataFlood: "RFC 9113 §10.5 (CVE-2019-9518)"
        case .smallFrameFlood, .windowDribble: "RFC 9113 §10.5"
        case .pingFlood: "RFC 9113 §10.5 (CVE-2019-9512)"
        case .settingsFlood: "RFC 9113 §10.5 (CVE-2019-9515)"
        case .streamFlood: "RFC 9113 §10.5 (rapid reset)"
        case .prohibitedCipher: "RFC 9113 §9.2.2"
        case .sendOnIdleStream, .sendAfterEndStream: "RFC 9113 §5.1"
        }
    }

    /// What the violation ends.
    public enum Scope: String, Sendable {
        /// RST_STREAM with the code (§5.4.2).
        case stream
        /// GOAWAY with the code and the reason, then close (§5.4.1).
        case connection
        /// A stream error on a stream, a connection error on stream 0.
        case streamOrConnection = "stream or connection"
    }

    public var scope: Scope {
        switch self {
        case .priorityFrameSize, .selfDependency, .frameOnHalfClosedStream, .dataOnClosedStream, .maxConcurrentStreams,
             .streamWindowExceeded, .trailersWithoutEndStream, .contentLengthMismatch, .invalidContentLength,
             .emptyHeaderName, .uppercaseHeaderName, .invalidHeaderName, .invalidHeaderValue, .headerValueWhitespace,
             .connectionSpecificHeader, .teNotTrailers, .pseudoHeaderAfterRegular, .pseudoHeaderInTrailers,
             .unknownPseudoHeader, .duplicatePseudoHeader, .emptyMethod, .emptyScheme, .emptyPath, .invalidPath,
             .missingPseudoHeader, .connectWithPath, .connectWithoutAuthority, .missingAuthority, .emptyAuthority,
             .authorityHostMismatch, .protocolWithoutConnect, .extendedConnectIncomplete, .sendOnIdleStream, .sendAfterEndStream:
            .stream
        case .windowUpdateZero, .windowOverflow:
            .streamOrConnection
        default:
            .connection
        }
    }

    /// docs/architecture.md's table row for this violation.
    public var documentationRow: String {
        "| `\(token)` | \(code) | \(scope.rawValue) | \(section) |"
    }

    /// The catalogue entry of an HPACK decoding error (RFC 9113 §4.3: "A
    /// decoding error in a field block MUST be treated as a connection error
    /// of type COMPRESSION_ERROR").
    public init(_ error: HPACKError) {
        switch error {
        case .truncated: self = .hpackTruncated
        case .integerOverflow: self = .hpackIntegerOverflow
        case .invalidIndex: self = .hpackInvalidIndex
        case .stringTooLong: self = .hpackStringTooLong
        case .huffmanEOS: self = .hpackHuffmanEOS
        case .huffmanPadding: self = .hpackHuffmanPadding
        case .headerListTooLarge: self = .hpackHeaderListTooLarge
        case .tooManyFields: self = .hpackTooManyFields
        case .sizeUpdateNotAtStart: self = .hpackSizeUpdatePosition
        case .sizeUpdateTooLarge: self = .hpackSizeUpdateTooLarge
        case .sizeUpdateMissing: self = .hpackSizeUpdateMissing
        }
    }
}

/// Events that end or mark a connection without the peer breaking a rule;
/// counted apart from rejections (`HTTP2Counters.events`).
public enum ConnectionEvent: String, CaseIterable, Sendable {
    /// No stream for `Limits.idleTimeout`: GOAWAY NO_ERROR.
    case idleTimeout = "idle_timeout"
    /// Pending output made no progress for `Limits.writeTimeout`: dropped.
    case writeTimeout = "write_timeout"
}
