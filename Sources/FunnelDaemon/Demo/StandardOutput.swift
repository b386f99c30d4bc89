#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Unbuffered writes to standard output, and whether it is a terminal.
///
/// Unbuffered because a redrawn screen half-flushed by stdio looks broken, and because `--no-ui`
/// lines piped into a CI log should appear when they are written, not when a buffer fills.
/// Plain `write(2)`: a closed pipe (`funnelpulse demo | head`) must not crash the process the way
/// `FileHandle.write` can; the demo keeps running and shuts down cleanly on its signal.
enum StandardOutput {
    static func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = writeToStandardOutput(bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }

    static var isTerminal: Bool {
        isatty(STDOUT_FILENO) != 0
    }
}

/// At file scope so `write` is the C function, not ``StandardOutput/write(_:)``.
private func writeToStandardOutput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int {
    write(STDOUT_FILENO, bytes, count)
}
