/// RFC 6455 §7.4.1: the status codes of a Close frame.
public struct WebSocketCloseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let normalClosure = Self(rawValue: 1000)
    public static let goingAway = Self(rawValue: 1001)
    public static let protocolError = Self(rawValue: 1002)
    public static let unsupportedData = Self(rawValue: 1003)
    /// "MUST NOT be set as a status code in a Close control frame": no code was sent.
    public static let noStatusReceived = Self(rawValue: 1005)
    public static let invalidPayload = Self(rawValue: 1007)
    public static let policyViolation = Self(rawValue: 1008)
    public static let messageTooBig = Self(rawValue: 1009)
    public static let internalError = Self(rawValue: 1011)

    /// Whether a peer may send this code in a Close frame (§7.4.1, §7.4.2:
    /// 1000–1003 and 1007–1011 defined so far, 3000–4999 for libraries and
    /// applications; 1004, 1005, 1006 and 1015 are never sent).
    public var isSendable: Bool {
        switch rawValue {
        case 1000...1003, 1007...1011: true
        case 3000...4999: true
        default: false
        }
    }

    public var description: String { String(rawValue) }
}

/// Every way a peer's bytes can break RFC 6455, with the close code the
/// endpoint answers, a stable token (for counters and logs), the section
/// and a human reason (sent as the Close frame's reason).
public enum WebSocketViolation: Error, Equatable, Sendable, CaseIterable {
    case reservedBitsSet
    case unknownOpcode
    case unmaskedClientFrame
    case maskedServerFrame
    case nonMinimalLength
    case lengthTooLarge
    case controlFrameTooLong
    case fragmentedControlFrame
    case continuationWithoutMessage
    case messageWhileFragmented
    case invalidUTF8
    case closeOneByte
    case invalidCloseCode
    case invalidCloseReason
    case frameTooLarge
    case messageTooLarge

    public var closeCode: WebSocketCloseCode {
        switch self {
        case .invalidUTF8, .invalidCloseReason: .invalidPayload
        case .frameTooLarge, .messageTooLarge: .messageTooBig
        default: .protocolError
        }
    }

    public var token: String {
        switch self {
        case .reservedBitsSet: "ws_reserved_bits"
        case .unknownOpcode: "ws_unknown_opcode"
        case .unmaskedClientFrame: "ws_unmasked_client_frame"
        case .maskedServerFrame: "ws_masked_server_frame"
        case .nonMinimalLength: "ws_non_minimal_length"
        case .lengthTooLarge: "ws_length_too_large"
        case .controlFrameTooLong: "ws_control_frame_too_long"
        case .fragmentedControlFrame: "ws_fragmented_control_frame"
        case .continuationWithoutMessage: "ws_continuation_without_message"
        case .messageWhileFragmented: "ws_message_while_fragmented"
        case .invalidUTF8: "ws_invalid_utf8"
        case .closeOneByte: "ws_close_one_byte"
        case .invalidCloseCode: "ws_invalid_close_code"
        case .invalidCloseReason: "ws_invalid_close_reason"
        case .frameTooLarge: "ws_frame_too_large"
        case .messageTooLarge: "ws_message_too_large"
        }
    }

    public var section: String {
        switch self {
        case .reservedBitsSet, .unknownOpcode, .nonMinimalLength, .lengthTooLarge: "RFC 6455 §5.2"
        case .unmaskedClientFrame, .maskedServerFrame: "RFC 6455 §5.1"
        case .controlFrameTooLong, .fragmentedControlFrame: "RFC 6455 §5.5"
        case .continuationWithoutMessage, .messageWhileFragmented: "RFC 6455 §5.4"
        case .invalidUTF8: "RFC 6455 §8.1"
        case .closeOneByte, .invalidCloseCode, .invalidCloseReason: "RFC 6455 §5.5.1, §7.4"
        case .frameTooLarge, .messageTooLarge: "RFC 6455 §7.4.1 (1009)"
        }
    }

    public var reason: String {
        switch self {
        case .reservedBitsSet: "reserved bits set without a negotiated extension"
        case .unknownOpcode: "unknown opcode"
        case .unmaskedClientFrame: "a client frame must be masked"
        case .maskedServerFrame: "a server frame must not be masked"
        case .nonMinimalLength: "payload length not in its shortest form"
        case .lengthTooLarge: "payload length with its most significant bit set"
        case .controlFrameTooLong: "control frame payload over 125 bytes"
        case .fragmentedControlFrame: "control frame without FIN"
        case .continuationWithoutMessage: "continuation frame with no message to continue"
        case .messageWhileFragmented: "new data frame inside a fragmented message"
        case .invalidUTF8: "text that is not UTF-8"
        case .closeOneByte: "close frame with a one-byte payload"
        case .invalidCloseCode: "close code that may not be sent"
        case .invalidCloseReason: "close reason that is not UTF-8"
        case .frameTooLarge: "frame larger than allowed"
        case .messageTooLarge: "message larger than allowed"
        }
    }
}
