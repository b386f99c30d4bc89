import FunnelCore
import FunnelKafka

/// Checkpoints of the engine state with the input positions they correspond to (pipeline thread).
///
/// A checkpoint is taken between poll batches once every output of the inputs it covers is
/// acknowledged (the publisher is drained first), so its positions are both "processed" and
/// "delivered": restoring it and consuming from those positions loses nothing, and re-emits at
/// most the outputs of the inputs read after it (bounded by `checkpoint.interval_seconds`).
extension Pipeline {
    /// Re-creates the checkpoint's ledger slots in their order (the engine's per-source
    /// watermarks are indexed by slot), marks them idle until assigned, and arranges for each
    /// partition to start at its checkpoint position the first time it is assigned.
    func restoreSlots(_ checkpoint: RunCheckpoint, engine: inout Engine) {
        for saved in checkpoint.slots {
            let partition = TopicPartition(topic: saved.topic, partition: saved.partition)
            let slot = activate(partition)
            publisher.ledger.deactivate(partition)
            engine.setSourceIdle(slot, true)
            if saved.offset >= 0 { startOffsets[partition] = saved.offset }
        }
    }

    /// Collects a finished checkpoint, and starts the next one when the interval has passed and
    /// none is in flight (the interval runs from the start of the previous one).
    func checkpointIfDue(_ engine: borrowing Engine) {
        guard let writer = checkpointWriter else { return }
        collectCheckpoint()
        guard !writer.isBusy,
            clock.now - lastCheckpoint >= .milliseconds(Int(config.checkpoint.intervalSeconds * 1000))
        else { return }
        lastCheckpoint = clock.now
        startCheckpoint(engine, drainWithin: .milliseconds(Int(config.shutdownGraceSeconds * 1000)))
    }

    /// The last checkpoint, at a graceful stop: waits for one in flight, then writes the final
    /// state and waits for it too, all within `timeout`.
    func writeFinalCheckpoint(_ engine: borrowing Engine, within timeout: Duration) {
        guard let writer = checkpointWriter else { return }
        let deadline = clock.now + timeout
        _ = writer.waitIdle(within: timeout)
        collectCheckpoint()
        guard startCheckpoint(engine, drainWithin: max(.zero, deadline - clock.now)) else { return }
        if !writer.waitIdle(within: max(.zero, deadline - clock.now)) {
            logger.warning("final checkpoint still being written at the end of the grace period; the previous one stands")
        }
        collectCheckpoint()
    }

    /// Drains the outputs, then hands a copy of the engine state with the positions of every owned
    /// partition to the writer thread. The positions are stored for commit only once the writer has
    /// written it (``collectCheckpoint()``). The committed offsets never run ahead of the newest
    /// checkpoint, as in Flink, where the source commits on checkpoint completion: otherwise a
    /// crash before the first checkpoint that covers a partition (the first interval after
    /// joining) would restart it at the committed offset with none of the state before it.
    @discardableResult
    func startCheckpoint(_ engine: borrowing Engine, drainWithin timeout: Duration) -> Bool {
        guard let writer = checkpointWriter else { return false }
        let started = clock.now
        guard publisher.drain(within: timeout) else {
            logger.warning("checkpoint skipped: outputs still unacknowledged",
                           metadata: ["unacked": "\(publisher.unacked)"])
            return false
        }
        let slots = publisher.ledger.partitions.map { partition in
            RunCheckpoint.Slot(topic: partition.topicPartition.topic, partition: partition.topicPartition.partition,
                               offset: partition.active ? (partition.processed ?? -1) : -1)
        }
        var job = CheckpointWriter.Job(engine: copy engine, slots: slots, generation: rebalances, stall: .zero)
        job.stall = clock.now - started
        metrics.checkpointStall.recordNanoseconds(Self.nanoseconds(job.stall))
        return writer.submit(job)
    }

    /// Reports a checkpoint the writer finished and, when it was written and no rebalance came
    /// since its copy was taken, stores its positions for commit. (After a rebalance the revoke
    /// has committed newer positions already, or the partitions are someone else's.)
    func collectCheckpoint() {
        guard let outcome = checkpointWriter?.takeOutcome() else { return }
        switch outcome.result {
        case .success(let written):
            metrics.checkpointsWritten.increment()
            metrics.checkpointWrite.recordNanoseconds(Self.nanoseconds(outcome.elapsed))
            metrics.checkpointBytes.record(written.bytes)
            logger.info("checkpoint written", metadata: [
                "file": "\(written.file)", "bytes": "\(written.bytes)", "users": "\(outcome.users)",
                "ms": "\(Self.nanoseconds(outcome.elapsed) / 1_000_000)",
                "pipeline_ms": "\(Double(Self.nanoseconds(outcome.stall)) / 1e6)",
            ])
            guard outcome.generation == rebalances else {
                logger.info("checkpoint positions not committed: a rebalance came after it was taken")
                return
            }
            var offsets: [TopicPartition: Int64] = [:]
            for slot in outcome.slots where slot.offset >= 0 {
                offsets[TopicPartition(topic: slot.topic, partition: slot.partition)] = slot.offset
            }
            guard !offsets.isEmpty else { return }
            do {
                try consumer.storeOffsets(offsets)
            } catch {
                logger.warning("could not store offsets", metadata: ["error": "\(error)", "offsets": "\(offsets)"])
            }
        case .failure(let error):
            metrics.checkpointsFailed.increment()
            logger.error("checkpoint failed", metadata: ["error": "\(error.message)"])
        }
    }

    static func nanoseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000
    }
}
