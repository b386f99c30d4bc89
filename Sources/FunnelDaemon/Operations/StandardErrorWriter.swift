import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes whole log lines to file descriptor 2.
///
/// Unbuffered `write(2)` under a process-wide lock: every line reaches the collector intact even
/// when many threads log at once or a line is longer than the pipe's atomic-write size, and
/// nothing sits in a stdio buffer when the process is killed.
enum StandardErrorWriter {
    private static let lock = Mutex<Void>(())

    static func writeLine(_ line: String) {
        var line = line
        line.withUTF8 { bytes in
            lock.withLock { _ in
                var offset = 0
                while offset < bytes.count {
                    let written = write(2, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
                    if written > 0 {
                        offset += written
                    } else if written < 0 && errno == EINTR {
                        continue
                    } else {
                        // stderr is gone or full beyond repair; dropping the line beats crashing.
                        return
                    }
                }
            }
        }
    }
}
