#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A buffered, append-only output file (JSON lines).
public final class FileOutput {
    public let path: String
    private let fd: Int32
    private var pending: [UInt8] = []
    private let flushThreshold = 1 << 20
    public private(set) var records = 0

    /// Opens `path` for writing, truncating it; `path == "-"` writes to standard output.
    public init(path: String) throws {
        self.path = path
        if path == "-" {
            fd = STDOUT_FILENO
        } else {
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw ReplayError.cannotOpen(path, String(cString: strerror(errno))) }
        }
        pending.reserveCapacity(flushThreshold + 65_536)
    }

    deinit {
        try? flush()
        if fd != STDOUT_FILENO { close(fd) }
    }

    /// Appends one record (without its newline) and a newline.
    @inline(__always)
    public func writeLine(_ bytes: [UInt8]) throws {
        pending.append(contentsOf: bytes)
        pending.append(0x0A)
        records += 1
        if pending.count >= flushThreshold { try flush() }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        pending.append(contentsOf: bytes)
        if pending.count >= flushThreshold { try flush() }
    }

    public func flush() throws {
        var offset = 0
        while offset < pending.count {
            let n = pending.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Glibc.write(fd, base + offset, raw.count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReplayError.writeFailed(path, String(cString: strerror(errno)))
            }
            offset += n
        }
        pending.removeAll(keepingCapacity: true)
    }

    public func sync() throws {
        try flush()
        if fd != STDOUT_FILENO { _ = fsync(fd) }
    }
}
