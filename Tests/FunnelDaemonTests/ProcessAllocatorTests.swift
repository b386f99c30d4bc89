import CJemalloc
import Testing

@testable import FunnelDaemon

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's allocator is part of its throughput (librdkafka allocates per message): a build
/// whose `malloc` silently fell back to glibc's would lose it without any other symptom.
@Suite struct ProcessAllocatorTests {
    @Test func mallocIsJemalloc() throws {
        #expect(ProcessAllocator.jemallocVersion?.hasPrefix("5.") == true)
        #expect(ProcessAllocator.routesMalloc)
        #expect(ProcessAllocator.description.hasPrefix("jemalloc 5."))
    }

    @Test func threadCounterFollowsAllocations() throws {
        let before = try #require(ProcessAllocator.threadAllocatedBytes)
        let block = try #require(malloc(1 << 20))
        defer { free(block) }
        #expect(malloc_usable_size(block) >= 1 << 20)
        let after = try #require(ProcessAllocator.threadAllocatedBytes)
        #expect(after - before >= 1 << 20)
    }
}
