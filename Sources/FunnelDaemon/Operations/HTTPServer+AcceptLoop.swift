import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension HTTPServer {
    /// The body of the accept thread: accept, serve one request, close, repeat until woken.
    ///
    /// A value type holding only descriptors and immutable settings, so the thread never touches
    /// the ``HTTPServer`` object (which may be deinitialized while the thread winds down).
    struct AcceptLoop: Sendable {
        let listenerFD: Int32
        let wakeReadFD: Int32
        let configuration: Configuration
        let handler: Handler
        let logger: Logger

        /// How long to wait before retrying when `accept` fails (e.g. out of descriptors), so a
        /// persistent error does not turn into a busy loop.
        private static let acceptBackoff: Duration = .milliseconds(100)

        /// Runs until the wake pipe fires, then closes the listener and the wake pipe's read end.
        func run() {
            defer {
                close(listenerFD)
                close(wakeReadFD)
            }
            while true {
                switch Socket.waitReadable(listenerFD, wakeFD: wakeReadFD, timeout: .seconds(3600)) {
                case .woken:
                    return
                case .timedOut:
                    continue
                case .failed(let error):
                    logger.warning("HTTP endpoint poll failed", metadata: ["errno": "\(error)"])
                    if backOff() { return }
                case .readable:
                    let (connection, error) = Socket.acceptConnection(listenerFD)
                    guard let connection else {
                        if error == EAGAIN || error == EWOULDBLOCK || error == ECONNABORTED {
                            continue
                        }
                        logger.warning(
                            "HTTP endpoint accept failed",
                            metadata: ["errno": "\(error)", "reason": "\(String(cString: strerror(error)))"]
                        )
                        if backOff() { return }
                        continue
                    }
                    serve(connection)
                }
            }
        }

        /// Sleeps for ``acceptBackoff`` unless woken; returns `true` when the server is stopping.
        private func backOff() -> Bool {
            if case .woken = Socket.waitReadable(wakeReadFD, wakeFD: wakeReadFD, timeout: Self.acceptBackoff) {
                return true
            }
            return false
        }

        // MARK: - One connection

        private enum HeadOutcome {
            case head(HTTPRequestHead)
            case reject(status: Int, reason: String)
            /// Nothing sensible to answer: peer gone, timed out, or the server is stopping.
            case drop(reason: String)
        }

        /// Reads one request, answers it and closes the connection.
        func serve(_ fd: Int32) {
            Socket.setTimeouts(fd, receive: configuration.receiveTimeout, send: configuration.sendTimeout)
            let response: HTTPResponse
            var includeBody = true
            var extraHeaders: [(String, String)] = []
            switch readHead(fd) {
            case .drop(let reason):
                logger.debug("HTTP connection dropped", metadata: ["reason": "\(reason)"])
                close(fd)
                return
            case .reject(let status, let reason):
                logger.debug("HTTP request rejected", metadata: ["status": "\(status)", "reason": "\(reason)"])
                response = .text(HTTPResponse.reasonPhrase(for: status).lowercased(), status: status)
            case .head(let head):
                switch head.method {
                case "GET", "HEAD":
                    includeBody = head.method == "GET"
                    response = handler(head.path) ?? .text("not found", status: 404)
                default:
                    response = .text("method not allowed", status: 405)
                    extraHeaders.append(("Allow", "GET, HEAD"))
                }
            }
            let error = Socket.sendAll(fd, response.serialized(includeBody: includeBody, extraHeaders: extraHeaders))
            if error != 0 {
                logger.debug("HTTP response not fully sent", metadata: ["errno": "\(error)"])
            }
            Socket.lingeringClose(fd, wakeFD: wakeReadFD, limit: configuration.lingerTimeout)
        }

        /// Accumulates bytes until the head is complete, invalid, too large, or time is up.
        private func readHead(_ fd: Int32) -> HeadOutcome {
            let limit = configuration.maxHeaderBytes
            let deadline = ContinuousClock.now.advanced(by: configuration.receiveTimeout)
            var buffer: [UInt8] = []
            buffer.reserveCapacity(1024)
            var chunk = [UInt8](repeating: 0, count: 2048)
            while true {
                let remaining = ContinuousClock.now.duration(to: deadline)
                switch Socket.waitReadable(fd, wakeFD: wakeReadFD, timeout: remaining) {
                case .readable:
                    break
                case .timedOut:
                    return .drop(reason: "receive timeout")
                case .woken:
                    return .drop(reason: "server stopping")
                case .failed(let error):
                    return .drop(reason: "poll errno \(error)")
                }
                // Never read past limit + 1: one byte over is enough to know the head is too large.
                let wanted = min(chunk.count, limit + 1 - buffer.count)
                let count = chunk.withUnsafeMutableBytes { raw in
                    Socket.receive(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[..<wanted]))
                }
                if count == 0 {
                    return buffer.isEmpty
                        ? .drop(reason: "closed before sending")
                        : .reject(status: 400, reason: "truncated request head")
                }
                if count < 0 {
                    let error = Int32(-count)
                    return .drop(
                        reason: error == EAGAIN || error == EWOULDBLOCK ? "receive timeout" : "recv errno \(error)"
                    )
                }
                buffer.append(contentsOf: chunk[..<count])
                switch HTTPRequestHead.parse(buffer) {
                case .complete(let head):
                    return .head(head)
                case .invalid(let status, let reason):
                    return .reject(status: status, reason: reason)
                case .incomplete:
                    if buffer.count > limit {
                        return .reject(status: 431, reason: "request head exceeds \(limit) bytes")
                    }
                }
            }
        }
    }
}
