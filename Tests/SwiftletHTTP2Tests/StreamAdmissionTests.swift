@testable import SwiftletHTTP2
import Testing

/// Whether a request header block opens a stream, without a connection:
/// stream ids (RFC 9113 §5.1.1), closed streams (§5.1), concurrency
/// (§5.1.2), GOAWAY (§6.8) and the head's own validity (§8.1.1).
@Suite("Stream admission (RFC 9113 §5.1.1, §5.1.2, §6.8)")
struct StreamAdmissionTests {
    /// A verdict as the peer would see it: "open", "ignored", or the frame
    /// the server answers with, its error code and the rejection's token.
    static func seen(_ identity: StreamAdmission.Identity) -> String {
        switch identity {
        case .new: "new"
        case .notNew(let result): seen(result)
        }
    }

    static func seen(_ result: FrameResult) -> String {
        switch result {
        case .ok: "open"
        case .ignore: "ignored"
        case .streamError(let id, let rejection): "RST_STREAM \(id) \(rejection.code) \(rejection.token)"
        case .connectionError(let rejection): "GOAWAY \(rejection.code) \(rejection.token)"
        }
    }

    @Test("§5.1.1: a new stream has an odd id above every id the peer used; at or below it, how the stream closed decides")
    func identities() {
        let table: [(id: UInt32, highest: UInt32, closedBy: StreamState.ClosedBy?, expected: String)] = [
            (1, 0, nil, "new"),
            (9, 5, nil, "new"),
            (4, 3, nil, "GOAWAY PROTOCOL_ERROR even_stream_id"),
            (3, 5, nil, "GOAWAY PROTOCOL_ERROR stream_id_not_increasing"),  // an idle id skipped over: implicitly closed
            (5, 5, nil, "GOAWAY PROTOCOL_ERROR stream_id_not_increasing"),  // forgotten
            (5, 5, .localReset, "ignored"),  // in flight when we reset it
            (5, 5, .peerReset, "GOAWAY STREAM_CLOSED headers_on_closed_stream"),
            (5, 7, .endStream, "GOAWAY STREAM_CLOSED headers_on_closed_stream"),
        ]
        for row in table {
            #expect(Self.seen(StreamAdmission.identify(row.id, highestStreamID: row.highest, closedBy: row.closedBy)) == row.expected,
                    "stream \(row.id), highest \(row.highest), closed by \(String(describing: row.closedBy))")
        }
    }

    @Test("§5.1: DATA, RST_STREAM and WINDOW_UPDATE for a stream that is not open: idle is a connection error; closed ignores all but DATA")
    func framesWithoutStream() {
        let table: [(type: FrameType, id: UInt32, highest: UInt32, closedBy: StreamState.ClosedBy?, expected: String)] = [
            (.data, 7, 5, nil, "GOAWAY PROTOCOL_ERROR frame_on_idle_stream"),
            (.rstStream, 7, 5, nil, "GOAWAY PROTOCOL_ERROR frame_on_idle_stream"),
            (.windowUpdate, 8, 5, nil, "GOAWAY PROTOCOL_ERROR frame_on_idle_stream"),
            (.data, 5, 5, .localReset, "ignored"),  // in flight when we reset it
            (.data, 5, 5, .peerReset, "RST_STREAM 5 STREAM_CLOSED data_on_closed_stream"),
            (.data, 3, 5, .endStream, "RST_STREAM 3 STREAM_CLOSED data_on_closed_stream"),
            (.data, 3, 5, nil, "RST_STREAM 3 STREAM_CLOSED data_on_closed_stream"),  // forgotten, or skipped over
            (.rstStream, 3, 5, .endStream, "ignored"),
            (.rstStream, 3, 5, nil, "ignored"),
            (.windowUpdate, 5, 5, .peerReset, "ignored"),
            (.windowUpdate, 1, 5, nil, "ignored"),
        ]
        for row in table {
            let result = StreamAdmission.withoutStream(row.type, row.id, highestStreamID: row.highest, closedBy: row.closedBy)
            #expect(Self.seen(result) == row.expected, "\(row.type) on stream \(row.id), highest \(row.highest)")
        }
    }

    func admit(_ request: StreamAdmission.Request, state: ConnectionState = .active, open: Int = 0) -> String {
        Self.seen(StreamAdmission.admit(request, connection: state, openStreams: open, maxConcurrentStreams: 2))
    }

    let get = StreamAdmission.Request(id: 7, endStream: true, selfDependent: false, violation: nil, contentLength: nil)

    @Test("a valid request opens its stream while the connection is active or has only announced a shutdown")
    func opens() {
        #expect(admit(get) == "open")
        #expect(admit(get, state: .draining(.announced)) == "open")
        #expect(admit(get, open: 1) == "open")
    }

    @Test("§6.8: after the final GOAWAY, streams above its last stream id are ignored; those at or below it still open")
    func afterGoAway() {
        #expect(admit(get, state: .draining(.final(lastStreamID: 5))) == "ignored")
        #expect(admit(get, state: .draining(.final(lastStreamID: 7))) == "open")
        #expect(admit(get, state: .closed) == "ignored")
    }

    @Test("§5.1.2: a stream beyond SETTINGS_MAX_CONCURRENT_STREAMS is refused, the connection goes on")
    func concurrency() {
        #expect(admit(get, open: 2) == "RST_STREAM 7 REFUSED_STREAM max_concurrent_streams")
    }

    @Test("the head's own faults reset the stream: self-dependency first, then the validator's violation, then content-length without DATA")
    func malformed() {
        var request = get
        request.selfDependent = true
        request.violation = Rejection(.missingPseudoHeader, "no :path")
        #expect(admit(request) == "RST_STREAM 7 PROTOCOL_ERROR self_dependency")
        request.selfDependent = false
        #expect(admit(request) == "RST_STREAM 7 PROTOCOL_ERROR missing_pseudo_header")
        request.violation = nil
        request.contentLength = 10
        #expect(admit(request) == "RST_STREAM 7 PROTOCOL_ERROR content_length_mismatch")
        request.contentLength = 0
        #expect(admit(request) == "open", "content-length 0 and END_STREAM on HEADERS agree")
        request.contentLength = 10
        request.endStream = false
        #expect(admit(request) == "open", "the DATA is still to come")
    }
}
