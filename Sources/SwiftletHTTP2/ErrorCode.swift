/// HTTP/2 error codes (RFC 9113 §7).
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let noError = ErrorCode(rawValue: 0x0)
    public static let protocolError = ErrorCode(rawValue: 0x1)
    public static let internalError = ErrorCode(rawValue: 0x2)
    public static let flowControlError = ErrorCode(rawValue: 0x3)
    public static let settingsTimeout = ErrorCode(rawValue: 0x4)
    public static let streamClosed = ErrorCode(rawValue: 0x5)
    public static let frameSizeError = ErrorCode(rawValue: 0x6)
    public static let refusedStream = ErrorCode(rawValue: 0x7)
    public static let cancel = ErrorCode(rawValue: 0x8)
    public static let compressionError = ErrorCode(rawValue: 0x9)
    public static let connectError = ErrorCode(rawValue: 0xA)
    public static let enhanceYourCalm = ErrorCode(rawValue: 0xB)
    public static let inadequateSecurity = ErrorCode(rawValue: 0xC)
    public static let http11Required = ErrorCode(rawValue: 0xD)

    public var description: String {
        switch self {
        case .noError: "NO_ERROR"
        case .protocolError: "PROTOCOL_ERROR"
        case .internalError: "INTERNAL_ERROR"
        case .flowControlError: "FLOW_CONTROL_ERROR"
        case .settingsTimeout: "SETTINGS_TIMEOUT"
        case .streamClosed: "STREAM_CLOSED"
        case .frameSizeError: "FRAME_SIZE_ERROR"
        case .refusedStream: "REFUSED_STREAM"
        case .cancel: "CANCEL"
        case .compressionError: "COMPRESSION_ERROR"
        case .connectError: "CONNECT_ERROR"
        case .enhanceYourCalm: "ENHANCE_YOUR_CALM"
        case .inadequateSecurity: "INADEQUATE_SECURITY"
        case .http11Required: "HTTP_1_1_REQUIRED"
        default: "UNKNOWN(0x\(String(rawValue, radix: 16)))"
        }
    }
}

/// A refusal: what the peer did wrong (a `Violation` of the catalogue,
/// which gives the error code and the stable token) and a human reason for
/// this instance (sent as GOAWAY debug data for connection errors).
public struct Rejection: Equatable, Sendable, CustomStringConvertible {
    public let violation: Violation
    public let reason: String

    public init(_ violation: Violation, _ reason: String) {
        self.violation = violation
        self.reason = reason
    }

    public var code: ErrorCode { violation.code }
    public var token: String { violation.token }

    public var description: String { "\(code) \(token): \(reason)" }
}

/// What handling a frame leads to (RFC 9113 §5.4).
public enum FrameResult: Equatable, Sendable {
    /// Handled.
    case ok
    /// Nothing to do (a frame RFC 9113 says to ignore).
    case ignore
    /// Reset this stream with the rejection's code (§5.4.2).
    case streamError(UInt32, Rejection)
    /// Send GOAWAY with the rejection's code and reason, then close (§5.4.1).
    case connectionError(Rejection)
}
