#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the operations HTTP endpoint could not start.
///
/// Carries the address and the failing system call so that "port already in use" at startup
/// names the port, instead of surfacing as a bare errno.
public struct HTTPServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The step of starting the server that failed.
    public enum Operation: String, Sendable {
        case resolve
        case socket
        case bind
        case listen
        case pipe
        case alreadyStarted
    }

    public var operation: Operation
    public var host: String
    public var port: Int
    /// The `errno` of the failing call, `0` when not applicable.
    public var errno: Int32
    /// Extra context such as a resolver message.
    public var detail: String?

    public init(operation: Operation, host: String, port: Int, errno: Int32, detail: String? = nil) {
        self.operation = operation
        self.host = host
        self.port = port
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        var text = "HTTP server \(operation.rawValue) failed for \(host):\(port)"
        if errno != 0 {
            text += ": \(String(cString: strerror(errno))) (errno \(errno))"
        }
        if let detail {
            text += ": \(detail)"
        }
        return text
    }
}
