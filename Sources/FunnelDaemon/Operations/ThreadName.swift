#if canImport(Glibc)
import Glibc
#endif

/// Names the calling OS thread, as `top -H`, `ps -L`, `perf` and /proc show it.
///
/// Foundation's `Thread.name` does not reach the OS on Linux, and a new thread inherits its
/// creator's name, so the daemon's own threads all showed up as the dispatch worker that started
/// them ("…root.default-qos"). Each long-lived thread calls this first. Linux keeps 15 bytes of
/// a name; longer ones are cut there. (Through /proc/thread-self/comm: glibc's
/// `pthread_setname_np` is not visible to Swift without `_GNU_SOURCE`.)
enum ThreadName {
    static let limit = 15
    private static let path = "/proc/thread-self/comm"

    /// - Returns: whether the name was set.
    @discardableResult
    static func setCurrent(_ name: String) -> Bool {
        #if canImport(Glibc)
        let bytes = Array(name.utf8.prefix(limit))
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count
        #else
        return false
        #endif
    }

    /// The calling thread's OS name ("" when it cannot be read).
    static func current() -> String {
        #if canImport(Glibc)
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return "" }
        return String(decoding: buffer.prefix(count).prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        #else
        return ""
        #endif
    }
}
