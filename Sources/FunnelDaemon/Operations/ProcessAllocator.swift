import CJemalloc
#if canImport(Glibc)
import Glibc
#endif

/// The process's memory allocator: jemalloc, linked into every binary built on this module.
///
/// The engine's hot path allocates nothing, but librdkafka allocates every message it fetches,
/// produces and reports on, on one thread, and frees it on another. glibc's malloc and free took
/// 13 % of the pipeline thread's samples on that traffic, jemalloc's take 3 % (README, "Allocator").
public enum ProcessAllocator {
    /// jemalloc's version string, or nil when `mallctl` does not answer.
    public static var jemallocVersion: String? {
        var version: UnsafePointer<CChar>?
        var size = MemoryLayout<UnsafePointer<CChar>?>.size
        guard mallctl("version", &version, &size, nil, 0) == 0, let version else { return nil }
        return String(cString: version)
    }

    /// Bytes this thread has allocated through jemalloc so far (its `thread.allocated` counter),
    /// or nil when jemalloc does not keep it. The check that `malloc` really is jemalloc's: the
    /// counter moves only when the process's `malloc` resolved to it.
    public static var threadAllocatedBytes: UInt64? {
        var value: UInt64 = 0
        var size = MemoryLayout<UInt64>.size
        guard mallctl("thread.allocated", &value, &size, nil, 0) == 0 else { return nil }
        return value
    }

    /// "jemalloc 5.3.0" when `malloc` is jemalloc's, else "system".
    public static var description: String {
        guard let version = jemallocVersion, routesMalloc else { return "system" }
        return "jemalloc \(version.prefix { $0 != "-" })"
    }

    /// Whether `malloc` itself resolves to jemalloc (not only its `mallctl`): a 64 KiB allocation
    /// must show in this thread's counter.
    public static var routesMalloc: Bool {
        guard let before = threadAllocatedBytes else { return false }
        guard let block = malloc(1 << 16) else { return false }
        defer { free(block) }
        // The block must escape (to an opaque call), or the optimiser drops the malloc/free pair.
        guard malloc_usable_size(block) >= 1 << 16 else { return false }
        let after = threadAllocatedBytes ?? before
        return after &- before >= 1 << 16
    }
}
