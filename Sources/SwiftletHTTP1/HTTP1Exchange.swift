import SwiftletHTTP
import SwiftletLoop

/// One request on an HTTP/1.1 connection and its response, as the handler
/// sees it (`HTTPExchange`); the connection does the work.
///
/// A handle is valid from `exchangeDidStart` until `exchangeDidClose`. In
/// release builds the connection reuses one handle for all its requests,
/// so a handle kept past `exchangeDidClose` would act on the next request;
/// every action checks `isUsable` (a closed handle does nothing), and debug
/// builds give each request its own handle and stop at the stale call.
public final class HTTP1Exchange: HTTPExchange {
    /// The connection owns its current handle and outlives it while it is
    /// open; a closed handle reads only its own `closed` flag.
    unowned(unsafe) let connection: HTTP1Connection
    var closed = false

    init(connection: HTTP1Connection) {
        self.connection = connection
    }

    /// Release builds reuse the handle; debug builds do not.
    static let recycles: Bool = {
        var recycles = true
        assert({ recycles = false; return true }())
        return recycles
    }()

    @inline(__always)
    private func isUsable(_ function: StaticString = #function) -> Bool {
        guard !closed else {
            assertionFailure("HTTPExchange.\(function) called after exchangeDidClose: a handler kept a stale exchange")
            return false
        }
        return true
    }

    public var request: HTTPRequestHead { connection.request }
    public var responseFields: HTTPFieldList { connection.responseFields }
    public var context: AnyObject? {
        get { connection.contextStorage }
        set { if !closed || newValue == nil { connection.contextStorage = newValue } }
    }
    public var protocolName: StaticString { "http/1.1" }
    public var streamID: UInt32 { 0 }
    public var remoteAddressDescription: String { connection.connection.remoteAddress?.host ?? "-" }
    public var tlsDescription: (version: String, cipher: String)? { connection.connection.transport?.securityDescription }
    public var responseStatus: Int { connection.status }
    public var responseBodyBytesSent: Int { connection.bodyBytes }
    public var startTime: UInt64 { connection.started }
    public var isWritable: Bool { connection.connection.isWritable }
    public var queuedBodyBytes: Int { connection.connection.pendingOutputBytes }
    public var canSwitchProtocols: Bool { !closed && connection.canSwitchProtocols }

    public func pauseRequestBody() {
        guard isUsable() else { return }
        connection.pauseRequestBody()
    }

    public func resumeRequestBody() {
        guard isUsable() else { return }
        connection.resumeRequestBody()
    }

    public func sendHead(status: Int, endOfStream: Bool) {
        guard isUsable() else { return }
        connection.sendHead(status: status, endOfStream: endOfStream)
    }

    public func sendBody(copying bytes: UnsafeRawBufferPointer, endOfStream: Bool) {
        guard isUsable() else { return }
        connection.sendBody(copying: bytes, endOfStream: endOfStream)
    }

    public func sendBody(borrowing bytes: UnsafeRawBufferPointer, owner: AnyObject?, release: (() -> Void)?, endOfStream: Bool) {
        guard isUsable() else {
            release?()
            return
        }
        connection.sendBody(borrowing: bytes, owner: owner, release: release, endOfStream: endOfStream)
    }

    public func sendBody(from source: any HTTPBodySource) {
        guard isUsable() else { return }
        connection.sendBody(from: source)
    }

    public func bodySourceDidBecomeReady() {
        guard isUsable() else { return }
        connection.bodySourceDidBecomeReady()
    }

    public func finish(trailers: HTTPFieldList?) {
        guard isUsable() else { return }
        connection.finish(trailers: trailers)
    }

    public func cancel() {
        guard isUsable() else { return }
        connection.cancel()
    }

    /// HTTP/1.1 sends one response at a time; the value is kept for handlers
    /// that read it back.
    public var priority: HTTPPriority {
        get { connection.responsePriority }
        set { if isUsable() { connection.responsePriority = newValue } }
    }
}
