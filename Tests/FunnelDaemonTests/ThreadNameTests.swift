import Foundation
import Synchronization
import Testing

@testable import FunnelDaemon

/// The daemon's threads carry their own names where operators look (`top -H`, `perf`, /proc):
/// a new thread otherwise shows its creator's name.
@Suite struct ThreadNameTests {
    /// Runs `body` on a new Foundation thread (as the daemon starts its own) and returns its result.
    private func onNewThread(_ body: @escaping @Sendable () -> String) -> String {
        let result = Mutex("")
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            result.withLock { $0 = body() }
            done.signal()
        }
        thread.name = "not-the-os-name"
        thread.start()
        done.wait()
        return result.withLock { $0 }
    }

    @Test func namesTheCallingOSThread() {
        let name = onNewThread {
            ThreadName.setCurrent("fp-pipeline")
            return ThreadName.current()
        }
        #expect(name == "fp-pipeline")
    }

    @Test func longNamesAreCutToWhatLinuxKeeps() {
        let name = onNewThread {
            ThreadName.setCurrent("funnelpulse-pipeline")
            return ThreadName.current()
        }
        #expect(name == "funnelpulse-pip")
    }

    /// Why the helper exists: Foundation's name does not reach the OS thread.
    @Test func foundationNameAloneDoesNotNameTheOSThread() {
        let name = onNewThread { ThreadName.current() }
        #expect(name != "not-the-os-name")
    }
}
