import Dispatch
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A minimal HTTP/1.1 server for the operations endpoint (`/metrics`, `/healthz`, `/readyz`).
///
/// Built on plain POSIX sockets rather than swift-nio because it serves a handful of tiny requests
/// per minute and NIO would dominate the daemon's build time. Connections are accepted and served
/// one at a time on a dedicated `Thread`, so blocking socket calls never occupy Swift's cooperative
/// pool; every read and write is bounded by a timeout, so a stalled client delays the next scrape
/// by at most ``Configuration/receiveTimeout`` and cannot wedge the endpoint.
///
/// The server is single-use: ``start()`` once, ``stop()`` (or ``shutdown()``) once; make a new
/// instance to listen again.
public final class HTTPServer: Sendable {
    /// Maps a request path (query stripped) to a response; `nil` means 404.
    public typealias Handler = @Sendable (_ path: String) -> HTTPResponse?

    public let configuration: Configuration
    private let handler: Handler
    private let logger: Logger
    private let state = Mutex<State>(.idle)
    /// Entered when the accept thread is spawned, left after it has closed the listener, so
    /// waiting on it means "the port is free again".
    private let threadExited = DispatchGroup()

    private enum State {
        case idle
        case running(Running)
        case stopping(Running)
        case stopped
    }

    private struct Running {
        var address: BoundAddress
        var wakeWriteFD: Int32
    }

    public init(configuration: Configuration = Configuration(), logger: Logger, handler: @escaping Handler) {
        self.configuration = configuration
        self.logger = logger
        self.handler = handler
    }

    // MARK: - Lifecycle

    /// Binds, listens and spawns the accept thread; returns once the socket accepts connections.
    @discardableResult
    public func start() throws(HTTPServerError) -> BoundAddress {
        let configuration = self.configuration
        return try state.withLock { (state: inout State) throws(HTTPServerError) -> BoundAddress in
            guard case .idle = state else {
                throw HTTPServerError(
                    operation: .alreadyStarted,
                    host: configuration.host,
                    port: configuration.port,
                    errno: 0
                )
            }
            let listener = try Socket.makeListener(
                host: configuration.host,
                port: configuration.port,
                backlog: configuration.backlog
            )
            let wake: (read: Int32, write: Int32)
            do throws(HTTPServerError) {
                wake = try Socket.makeWakePipe()
            } catch {
                close(listener)
                throw error
            }
            let bound = Socket.localAddress(of: listener)
            let address = BoundAddress(
                host: bound?.host ?? configuration.host,
                port: bound?.port ?? configuration.port
            )

            let loop = AcceptLoop(
                listenerFD: listener,
                wakeReadFD: wake.read,
                configuration: configuration,
                handler: handler,
                logger: logger
            )
            let exited = threadExited
            exited.enter()
            let thread = Thread {
                ThreadName.setCurrent("fp-http")
                loop.run()
                exited.leave()
            }
            thread.name = "http-endpoint"
            thread.start()
            state = .running(Running(address: address, wakeWriteFD: wake.write))
            return address
        }
    }

    /// The bound address while running; use it to learn the port after binding port `0`.
    public var localAddress: BoundAddress? {
        state.withLock { state in
            switch state {
            case .running(let running), .stopping(let running): running.address
            case .idle, .stopped: nil
            }
        }
    }

    /// Closes the listener, aborts any in-flight connection and joins the accept thread.
    ///
    /// Blocks the caller until the port is released, which is bounded by one `send` timeout at
    /// worst; from async code prefer ``shutdown()``. Safe to call repeatedly and before `start()`.
    public func stop() {
        let wakeFD = beginStop()
        threadExited.wait()
        finishStop(wakeFD)
    }

    /// Like ``stop()`` but suspends instead of blocking a cooperative-pool thread while joining.
    public func shutdown() async {
        let wakeFD = beginStop()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            threadExited.notify(queue: .global()) {
                continuation.resume()
            }
        }
        finishStop(wakeFD)
    }

    /// Signals the accept thread; returns the wake pipe's write end if this call owns closing it.
    private func beginStop() -> Int32? {
        let wakeFD: Int32? = state.withLock { state in
            switch state {
            case .idle:
                state = .stopped
                return nil
            case .running(let running):
                state = .stopping(running)
                return running.wakeWriteFD
            case .stopping, .stopped:
                return nil
            }
        }
        if let wakeFD {
            Socket.wake(wakeFD)
        }
        return wakeFD
    }

    private func finishStop(_ wakeFD: Int32?) {
        guard let wakeFD else { return }
        close(wakeFD)
        state.withLock { $0 = .stopped }
    }

    deinit {
        // A server dropped without stop() would leak its thread and port; stop it here.
        let wakeFD: Int32? = state.withLock { state in
            if case .running(let running) = state {
                state = .stopped
                return running.wakeWriteFD
            }
            return nil
        }
        if let wakeFD {
            Socket.wake(wakeFD)
            close(wakeFD)
        }
    }
}
