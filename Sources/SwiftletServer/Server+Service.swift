import Glibc
import ServiceLifecycle
import SwiftletLoop

/// A `Server` is a swift-service-lifecycle `Service`: run it in a
/// `ServiceGroup` beside the application's other services.
///
///     let group = ServiceGroup(configuration: .init(
///         services: [.init(service: server), .init(service: other)],
///         gracefulShutdownSignals: [.sigterm], logger: logger))
///     try await group.run()
///
/// `run()` starts the server unless it already was, then serves until:
/// - graceful shutdown (SIGTERM through the group, or the group shutting
///   down): Swiftlet's drain, `beginGracefulShutdown()`: no new connections,
///   HTTP/2's two GOAWAYs, in-flight requests finish within
///   `configuration.gracefulTimeout`; `run()` returns when every loop stopped;
/// - cancellation: the loops stop at once, open connections are closed.
extension Server: Service {
    public func run() async throws {
        if !isStarted { try start() }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await stopped()
            } onGracefulShutdown: {
                self.beginGracefulShutdown()
            }
        } onCancel: {
            self.stop()
        }
    }

    /// Returns when every loop stopped, without blocking a thread of the
    /// concurrency pool: a helper thread waits (`waitUntilStopped`).
    public func stopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let waiter = StopWaiter(server: self, continuation: continuation)
            var thread = pthread_t()
            let context = Unmanaged.passRetained(waiter).toOpaque()
            let rc = pthread_create(&thread, nil, { context in
                let waiter = Unmanaged<StopWaiter>.fromOpaque(context!).takeRetainedValue()
                waiter.server.waitUntilStopped()
                waiter.continuation.resume()
                return nil
            }, context)
            if rc == 0 {
                pthread_detach(thread)
            } else {
                // No thread to spare: wait here (the loops are stopping anyway).
                let waiter = Unmanaged<StopWaiter>.fromOpaque(context).takeRetainedValue()
                waiter.server.waitUntilStopped()
                waiter.continuation.resume()
            }
        }
    }
}

private final class StopWaiter: Sendable {
    let server: Server
    let continuation: CheckedContinuation<Void, Never>
    init(server: Server, continuation: CheckedContinuation<Void, Never>) {
        self.server = server
        self.continuation = continuation
    }
}
