#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a file line by line in large chunks; each line is a view into the reader's buffer,
/// valid until the next call to ``next()``.
public final class LineReader {
    public enum Line {
        case record(UnsafeRawBufferPointer, lineNumber: Int64)
        /// A line longer than the reader keeps: its first bytes, for the dead-letter record.
        case oversized(UnsafeRawBufferPointer, lineNumber: Int64)
    }

    public let path: String
    private let fd: Int32
    private var buffer: UnsafeMutableRawPointer
    private let capacity: Int
    private var start = 0
    private var end = 0
    private var eof = false
    private var skippingOversized = false
    public private(set) var lineNumber: Int64 = 0
    public private(set) var bytesRead: Int64 = 0
    public let fileSize: Int64

    /// `maxLine`: longer lines are reported as ``Line/oversized`` (never buffered whole).
    public init(path: String, maxLine: Int = 16 << 20) throws {
        self.path = path
        fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw ReplayError.cannotOpen(path, String(cString: strerror(errno)))
        }
        var st = stat()
        fileSize = fstat(fd, &st) == 0 ? Int64(st.st_size) : 0
        capacity = max(maxLine + 1, 1 << 20)
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit {
        buffer.deallocate()
        close(fd)
    }

    public func next() throws -> Line? {
        while true {
            if let nl = findNewline() {
                let line = UnsafeRawBufferPointer(start: buffer + start, count: nl - start + 1)
                start = nl + 1
                if skippingOversized {
                    skippingOversized = false
                    continue
                }
                lineNumber += 1
                return .record(line, lineNumber: lineNumber)
            }
            if eof {
                guard start < end else { return nil }
                let line = UnsafeRawBufferPointer(start: buffer + start, count: end - start)
                start = end
                if skippingOversized {
                    skippingOversized = false
                    return nil
                }
                lineNumber += 1
                return .record(line, lineNumber: lineNumber)
            }
            if start == 0 && end == capacity {
                // The line does not fit: report its head once, then skip to its end.
                let head = UnsafeRawBufferPointer(start: buffer, count: min(1024, end))
                if !skippingOversized {
                    skippingOversized = true
                    lineNumber += 1
                    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: head.count, alignment: 1)
                    copy.copyMemory(from: head)
                    oversizedHead?.deallocate()
                    oversizedHead = copy
                    end = 0
                    return .oversized(UnsafeRawBufferPointer(copy), lineNumber: lineNumber)
                }
                end = 0
            }
            try fill()
        }
    }

    /// The next line if it is already whole in the buffer, without reading more of the file;
    /// nil when ``next()`` must be called. Every line returned since the last ``next()`` stays
    /// valid until the next call to ``next()``, so a caller can hold several at once.
    public func nextBuffered() -> (UnsafeRawBufferPointer, lineNumber: Int64)? {
        guard !skippingOversized, let nl = findNewline() else { return nil }
        let line = UnsafeRawBufferPointer(start: buffer + start, count: nl - start + 1)
        start = nl + 1
        lineNumber += 1
        return (line, lineNumber)
    }

    private var oversizedHead: UnsafeMutableRawBufferPointer?

    private func findNewline() -> Int? {
        guard start < end else { return nil }
        guard let hit = memchr(buffer + start, 0x0A, end - start) else { return nil }
        return buffer.distance(to: hit)
    }

    private func fill() throws {
        if start > 0 {
            let remaining = end - start
            if remaining > 0 { memmove(buffer, buffer + start, remaining) }
            start = 0
            end = remaining
        }
        while end < capacity {
            let n = read(fd, buffer + end, capacity - end)
            if n < 0 {
                if errno == EINTR { continue }
                throw ReplayError.readFailed(path, String(cString: strerror(errno)))
            }
            if n == 0 {
                eof = true
                return
            }
            end += n
            bytesRead += Int64(n)
            return
        }
    }
}

public enum ReplayError: Error, CustomStringConvertible {
    case cannotOpen(String, String)
    case readFailed(String, String)
    case writeFailed(String, String)
    case badArguments(String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let why): "cannot open \(path): \(why)"
        case .readFailed(let path, let why): "cannot read \(path): \(why)"
        case .writeFailed(let path, let why): "cannot write \(path): \(why)"
        case .badArguments(let why): why
        }
    }
}
