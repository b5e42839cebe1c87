/// Whether a complete request header block opens a stream, decided without
/// the connection: RFC 9113's rules on stream identifiers (§5.1.1), on
/// concurrency (§5.1.2) and after GOAWAY (§6.8), and the request's own
/// validity (§8.1.1, RFC 7540 §5.3.1).
///
/// The connection decodes every block before it acts on the verdict, a
/// rejected one too: "A decoding error in a field block MUST be treated as
/// a connection error of type COMPRESSION_ERROR", and skipping a block
/// would leave the HPACK state out of step with the peer's (§4.3).
///
///     header block for stream id
///       ├─ open stream ────────────────────────────▶ trailers (not here)
///       ├─ identify(id): closed / even / reused ───▶ decode, then .notNew(verdict)
///       └─ .new ─▶ decode into a stream ─▶ admit(request): .ok opens it
///
/// `withoutStream` says the same for the other frames that name a stream
/// that is not open (DATA, RST_STREAM, WINDOW_UPDATE).
enum StreamAdmission {
    /// What the id of a header block for a stream that is not open says.
    enum Identity: Equatable {
        /// A new stream: odd and above every id the peer used so far.
        case new
        /// Not a new stream: what to do once its block is decoded.
        case notNew(FrameResult)
    }

    /// - Parameters:
    ///   - highestStreamID: the highest stream id the peer used (every lower
    ///     idle id is implicitly closed, §5.1.1).
    ///   - closedBy: how the stream closed, if the connection still
    ///     remembers it (`RecentlyClosedStreams`); asked only for an id at
    ///     or below `highestStreamID`.
    @inline(__always)  // on every new stream; inlined, it costs what the checks did in place
    static func identify(_ id: UInt32, highestStreamID: UInt32, closedBy: @autoclosure () -> StreamState.ClosedBy?) -> Identity {
        if id <= highestStreamID {
            switch closedBy() {
            case .localReset:
                // §5.1: frames in flight when we reset the stream are ignored.
                return .notNew(.ignore)
            case .endStream, .peerReset:
                // §5.1 closed: "An endpoint MAY treat receipt of any other
                // type of frame on a closed stream as a connection error
                // (Section 5.4.1) of type STREAM_CLOSED". (Only after our own
                // RST_STREAM must frames in flight be ignored, above.)
                return .notNew(.connectionError(Rejection(.headersOnClosedStream, "HEADERS on closed stream \(id)")))
            case nil:
                // §5.1.1: "The identifier of a newly established stream MUST be
                // numerically greater than all streams that the initiating
                // endpoint has opened or reserved ... An endpoint that receives
                // an unexpected stream identifier MUST respond with a connection
                // error of type PROTOCOL_ERROR."
                return .notNew(.connectionError(Rejection(.streamIDNotIncreasing, "stream \(id) is not above \(highestStreamID)")))
            }
        }
        // §5.1.1: "Streams initiated by a client MUST use odd-numbered stream identifiers".
        guard id & 1 == 1 else {
            return .notNew(.connectionError(Rejection(.evenStreamID, "client stream \(id) is even")))
        }
        return .new
    }

    /// What a DATA, RST_STREAM or WINDOW_UPDATE frame means when the stream
    /// it names is not open (§5.1), given the highest stream id the peer
    /// used and how the stream closed, if the connection remembers.
    @inline(__always)
    static func withoutStream(_ type: FrameType, _ id: UInt32, highestStreamID: UInt32,
                              closedBy: @autoclosure () -> StreamState.ClosedBy?) -> FrameResult {
        // §5.1 idle: "Receiving any frame other than HEADERS or PRIORITY on a
        // stream in this state MUST be treated as a connection error (Section
        // 5.4.1) of type PROTOCOL_ERROR." (Every id above the highest is idle;
        // §6.4 says it again of RST_STREAM.)
        if id > highestStreamID {
            return .connectionError(Rejection(.frameOnIdleStream, "\(type) on idle stream \(id)"))
        }
        // §5.1 closed: "WINDOW_UPDATE or RST_STREAM frames can be received in
        // this state for a short period after a DATA or HEADERS frame
        // containing an END_STREAM flag is sent", and we may have forgotten
        // the stream since.
        guard type == .data else { return .ignore }
        // Frames in flight when we reset the stream are ignored; otherwise
        // "An endpoint that receives any frame other than PRIORITY after
        // receiving a RST_STREAM MUST treat that as a stream error (Section
        // 5.4.2) of type STREAM_CLOSED", and so for a stream the peer ended.
        if closedBy() == .localReset { return .ignore }
        return .streamError(id, Rejection(.dataOnClosedStream, "DATA on closed stream \(id)"))
    }

    /// What a decoded request head says about its new stream.
    struct Request: Equatable {
        var id: UInt32
        var endStream: Bool
        /// The HEADERS frame's RFC 7540 priority names the stream itself.
        var selfDependent: Bool
        /// The first of RFC 9113 §8's rules the head breaks (`RequestValidator`).
        var violation: Rejection?
        var contentLength: Int?
    }

    /// Whether the new stream opens (`.ok`); otherwise what to do instead.
    /// - Parameters:
    ///   - connection: the connection's state (after GOAWAY, streams above
    ///     its last stream id are ignored).
    ///   - openStreams: streams open now, this one not counted.
    @inline(__always)
    static func admit(_ request: Request, connection: ConnectionState, openStreams: Int, maxConcurrentStreams: Int) -> FrameResult {
        let id = request.id
        // §6.8: the sender of GOAWAY "will ignore frames sent by the receiver
        // ... with identifiers higher than the included last stream identifier".
        guard connection.acceptsNewStream(id) else { return .ignore }
        // §5.1.2: "An endpoint that receives a HEADERS frame that causes its
        // advertised concurrent stream limit to be exceeded MUST treat this as
        // a stream error of type PROTOCOL_ERROR or REFUSED_STREAM."
        guard openStreams < maxConcurrentStreams else {
            return .streamError(id, Rejection(.maxConcurrentStreams, "more than \(maxConcurrentStreams) concurrent streams"))
        }
        // RFC 7540 §5.3.1: "A stream cannot depend on itself. An endpoint MUST
        // treat this as a stream error of type PROTOCOL_ERROR."
        if request.selfDependent {
            return .streamError(id, Rejection(.selfDependency, "stream \(id) depends on itself"))
        }
        if let violation = request.violation { return .streamError(id, violation) }
        // §8.1.1: "A request or response is also malformed if the value of a
        // content-length header field does not equal the sum of the DATA frame
        // payload lengths that form the content" (here: none).
        if request.endStream, let expected = request.contentLength, expected != 0 {
            return .streamError(id, Rejection(.contentLengthMismatch, "content-length \(expected) but no DATA"))
        }
        return .ok
    }
}
