import FunnelCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Encodes and writes `run` checkpoints on a thread of its own, so that the pipeline thread only
/// pays for copying the engine value, not for encoding it (about a second per 100,000 users,
/// `funnelpulse-bench checkpoint`).
///
/// The engine is a value whose large buffers are copy-on-write: the pipeline hands over a copy,
/// which costs a few reference counts, and the buffers the pipeline then changes are copied once,
/// on their first change while the copy is alive. One checkpoint is in flight at a time. The
/// writer leaves it in the store's temporary file (``CheckpointStore/writeTemporary(_:)``); the
/// pipeline collects the outcome (``takeOutcome()``) between poll batches and publishes it once
/// the outputs of the inputs it covers are acknowledged.
final class CheckpointWriter: Sendable {
    /// What the pipeline hands over: a copy of the engine and the input positions it corresponds to.
    struct Job: Sendable {
        var engine: Engine
        var slots: [RunCheckpoint.Slot]
        /// Per slot, the offset whose earlier inputs' outputs must be acknowledged before the
        /// checkpoint is published (-1: none); the offsets committed once it is.
        var awaiting: [Int64] = []
        /// The pipeline's rebalance count when the copy was taken (positions from before a
        /// rebalance are not committed).
        var generation: UInt64
        /// Pipeline-thread time spent taking the copy.
        var stall: Duration
    }

    struct Outcome: Sendable {
        var slots: [RunCheckpoint.Slot]
        var awaiting: [Int64]
        /// The copy's count of events read (``EngineStats/read``, restored ones included).
        var read: Int
        var generation: UInt64
        var users: Int
        var stall: Duration
        /// Encode and write time on the writer thread.
        var elapsed: Duration
        /// The size of the temporary file written, or why there is none.
        var result: Result<Int, CheckpointError>
    }

    private struct State {
        var busy = false
        var outcome: Outcome?
    }

    private let store: CheckpointStore
    private let state = NSCondition()
    // Guarded by `state` (an `NSCondition`, so that ``waitIdle(within:)`` can sleep on it).
    nonisolated(unsafe) private var current = State()

    init(store: CheckpointStore) {
        self.store = store
    }

    /// Whether a checkpoint is being written.
    var isBusy: Bool {
        state.lock()
        defer { state.unlock() }
        return current.busy
    }

    /// Starts writing `job` on a new thread; false (and nothing started) when one is in flight.
    func submit(_ job: Job) -> Bool {
        state.lock()
        guard !current.busy else {
            state.unlock()
            return false
        }
        current.busy = true
        state.unlock()
        let thread = Thread { [self] in
            ThreadName.setCurrent("fp-checkpoint")
            // Below the pipeline and librdkafka's threads: a checkpoint may take its time. (On
            // Linux the nice value is per thread, and `who` 0 is the calling thread.)
            setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
            let outcome = write(job)
            state.lock()
            current.busy = false
            current.outcome = outcome
            state.broadcast()
            state.unlock()
        }
        thread.name = "checkpoint"
        thread.start()
        return true
    }

    /// The outcome of the last checkpoint written, once (nil while one is in flight or none ended).
    func takeOutcome() -> Outcome? {
        state.lock()
        defer { state.unlock() }
        let outcome = current.outcome
        current.outcome = nil
        return outcome
    }

    /// Waits until no checkpoint is in flight; false when `timeout` ran out first.
    func waitIdle(within timeout: Duration) -> Bool {
        let deadline = Date().addingTimeInterval(timeout.inSeconds)
        state.lock()
        defer { state.unlock() }
        while current.busy {
            if !state.wait(until: deadline) { return !current.busy }
        }
        return true
    }

    private func write(_ job: Job) -> Outcome {
        let clock = ContinuousClock()
        let started = clock.now
        let result: Result<Int, CheckpointError>
        do {
            let bytes = try job.engine.checkpoint()
            result = .success(try store.writeTemporary(RunCheckpoint(slots: job.slots, engine: bytes)))
        } catch let error as CheckpointError {
            result = .failure(error)
        } catch {
            result = .failure(CheckpointError("\(error)"))
        }
        return Outcome(slots: job.slots, awaiting: job.awaiting, read: job.engine.stats.read, generation: job.generation, users: job.engine.users.count,
                       stall: job.stall, elapsed: clock.now - started, result: result)
    }
}
