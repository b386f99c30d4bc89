#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin wrappers over the POSIX socket calls the HTTP endpoint needs.
///
/// Every raw libc call of the operations endpoint lives here so that EINTR handling, platform
/// constants and `SIGPIPE` suppression are decided in one place, and the server logic reads as
/// plain Swift. Only listener setup throws; per-connection calls return `errno` values because the
/// accept loop treats their failures as "drop this connection", not as errors worth unwinding for.
enum Socket {
    // MARK: - Platform constants

    #if canImport(Glibc)
    static let streamType = Int32(SOCK_STREAM.rawValue)
    #else
    static let streamType = SOCK_STREAM
    #endif

    #if canImport(Darwin)
    /// Darwin has no `MSG_NOSIGNAL`; accepted sockets get `SO_NOSIGPIPE` instead.
    static let sendFlags: Int32 = 0
    #else
    /// A peer that closes early must not kill the daemon with `SIGPIPE`.
    static let sendFlags = Int32(MSG_NOSIGNAL)
    #endif

    /// Outcome of waiting for a socket to become readable.
    enum Readiness {
        case readable
        case timedOut
        /// The server's wake-up pipe fired: it is stopping.
        case woken
        case failed(Int32)
    }

    // MARK: - Listener

    /// Resolves `host`, binds the first address that accepts the bind, and listens.
    ///
    /// - Returns: the listening descriptor, non-blocking and close-on-exec.
    static func makeListener(host: String, port: Int, backlog: Int32) throws(HTTPServerError) -> Int32 {
        guard (0...65535).contains(port) else {
            throw HTTPServerError(operation: .resolve, host: host, port: port, errno: EINVAL)
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = streamType
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            let reason = rc == 0 ? "no addresses" : String(cString: gai_strerror(rc))
            throw HTTPServerError(operation: .resolve, host: host, port: port, errno: 0, detail: reason)
        }
        defer { freeaddrinfo(first) }

        var lastErrno: Int32 = EADDRNOTAVAIL
        var lastOperation = HTTPServerError.Operation.bind
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            cursor = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, streamType, 0)
            guard fd >= 0 else {
                lastErrno = errno
                lastOperation = .socket
                continue
            }
            setCloseOnExec(fd)
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
                lastErrno = errno
                lastOperation = .bind
                close(fd)
                continue
            }
            if listen(fd, backlog) != 0 {
                lastErrno = errno
                lastOperation = .listen
                close(fd)
                continue
            }
            // Non-blocking so a connection reset between poll() and accept() cannot park the thread.
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            return fd
        }
        throw HTTPServerError(operation: lastOperation, host: host, port: port, errno: lastErrno)
    }

    /// The numeric address and port a socket is bound to (resolves an ephemeral port 0).
    static func localAddress(of fd: Int32) -> (host: String, port: Int)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { return nil }
        var hostBuffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var portBuffer = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let nameRC = withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo(
                    $0,
                    length,
                    &hostBuffer,
                    socklen_t(hostBuffer.count),
                    &portBuffer,
                    socklen_t(portBuffer.count),
                    NI_NUMERICHOST | NI_NUMERICSERV
                )
            }
        }
        guard nameRC == 0 else { return nil }
        let host = String(decoding: hostBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let port = String(decoding: portBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let portNumber = Int(port) else { return nil }
        return (host, portNumber)
    }

    /// Accepts one pending connection; `nil` with `errno` when none is ready or accept failed.
    static func acceptConnection(_ listener: Int32) -> (fd: Int32?, errno: Int32) {
        while true {
            let fd = accept(listener, nil, nil)
            if fd >= 0 {
                setCloseOnExec(fd)
                // Darwin hands out accepted sockets with the listener's O_NONBLOCK set; reads and
                // writes here rely on blocking calls bounded by SO_RCVTIMEO/SO_SNDTIMEO.
                let flags = fcntl(fd, F_GETFL)
                _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
                #if canImport(Darwin)
                var one: Int32 = 1
                _ = setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
                #endif
                return (fd, 0)
            }
            let error = errno
            if error == EINTR { continue }
            return (nil, error)
        }
    }

    // MARK: - Connection I/O

    /// Bounds each blocking `recv`/`send` so a stalled peer cannot hold the accept thread forever.
    static func setTimeouts(_ fd: Int32, receive: Duration, send: Duration) {
        var receiveValue = timeval(receive)
        var sendValue = timeval(send)
        let size = socklen_t(MemoryLayout<timeval>.size)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &receiveValue, size)
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &sendValue, size)
    }

    /// Waits until `fd` is readable, `wakeFD` fires, or `timeout` passes. Retries on EINTR.
    static func waitReadable(_ fd: Int32, wakeFD: Int32, timeout: Duration) -> Readiness {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return .timedOut }
            var fds = [
                pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0),
            ]
            let rc = poll(&fds, nfds_t(fds.count), milliseconds(remaining))
            if rc < 0 {
                let error = errno
                if error == EINTR { continue }
                return .failed(error)
            }
            if rc == 0 { continue }  // Re-check the deadline; poll may round down.
            if fds[1].revents != 0 { return .woken }
            // POLLHUP/POLLERR also count: the following recv reports what happened.
            if fds[0].revents != 0 { return .readable }
        }
    }

    /// One `recv`, retried on EINTR. Returns the byte count (0 = orderly EOF) or `-errno`.
    static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        while true {
            let count = recv(fd, buffer.baseAddress, buffer.count, 0)
            if count >= 0 { return count }
            let error = errno
            if error == EINTR { continue }
            return -Int(error)
        }
    }

    /// Writes all of `bytes`, or gives up on the first hard error or send timeout.
    ///
    /// - Returns: `0` on success, otherwise the `errno` that stopped the write.
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = send(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset, sendFlags)
                if written > 0 {
                    offset += written
                    continue
                }
                let error = written == 0 ? EPIPE : errno
                if error == EINTR { continue }
                return error
            }
            return 0
        }
    }

    /// Half-closes, then drains what the peer still sends so the kernel does not answer our
    /// response with an RST (which can make the client lose the response it has not read yet).
    static func lingeringClose(_ fd: Int32, wakeFD: Int32, limit: Duration) {
        _ = shutdown(fd, Int32(SHUT_WR))
        let deadline = ContinuousClock.now.advanced(by: limit)
        var scratch = [UInt8](repeating: 0, count: 4096)
        var drained = 0
        while drained < 65_536 {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard case .readable = waitReadable(fd, wakeFD: wakeFD, timeout: remaining) else { break }
            let count = scratch.withUnsafeMutableBytes { receive(fd, into: $0) }
            guard count > 0 else { break }
            drained += count
        }
        close(fd)
    }

    // MARK: - Wake-up pipe

    /// A pipe whose read end is polled next to every socket, so ``HTTPServer/stop()`` can
    /// interrupt a blocked accept or a slow client immediately instead of waiting for a timeout.
    static func makeWakePipe() throws(HTTPServerError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw HTTPServerError(operation: .pipe, host: "", port: 0, errno: errno)
        }
        for fd in fds {
            setCloseOnExec(fd)
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        }
        return (fds[0], fds[1])
    }

    static func wake(_ wakeWriteFD: Int32) {
        var byte: UInt8 = 1
        while write(wakeWriteFD, &byte, 1) < 0, errno == EINTR {}
    }

    // MARK: - Helpers

    static func setCloseOnExec(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFD)
        _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC)
    }

    /// Rounds up so a 1.5 ms remainder waits 2 ms rather than spinning on a 1 ms poll.
    private static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        let millis = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: max(0, millis))
    }
}

extension timeval {
    fileprivate init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init()
        self.tv_sec = .init(clamping: max(0, seconds))
        self.tv_usec = .init(clamping: max(0, attoseconds / 1_000_000_000_000))
    }
}
