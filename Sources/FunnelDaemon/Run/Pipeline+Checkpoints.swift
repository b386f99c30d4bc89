import FunnelCore
import FunnelKafka
import Foundation

/// Checkpoints of the engine state with the input positions they correspond to (pipeline thread).
///
/// A checkpoint is a copy of the engine taken between poll batches with the position of every
/// owned partition, encoded and written by the writer thread (``CheckpointWriter``) into a
/// temporary file, and published — renamed to its sequence number — only once every output of
/// the inputs before those positions is acknowledged. So a published checkpoint's positions are
/// both "processed" and "delivered": restoring it and consuming from those positions loses
/// nothing, and re-emits at most the outputs of the inputs read after it (bounded by
/// `checkpoint.interval_seconds` plus the time the checkpoint took to be written and published).
/// The pipeline never waits for the acknowledgements (a drain
/// waited up to 40 ms on the mock cluster); it checks them after each batch, as Flink completes a
/// checkpoint when its acknowledgements are in rather than stopping the stream for them.
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

    /// Publishes a written checkpoint whose outputs are acknowledged, and starts the next one
    /// when the interval has passed and none is in flight (the interval runs from the start of
    /// the previous one).
    func checkpointIfDue(_ engine: borrowing Engine) {
        guard let writer = checkpointWriter else { return }
        collectCheckpoint()
        guard !writer.isBusy, unpublishedCheckpoint == nil,
            clock.now - lastCheckpoint >= .milliseconds(Int(config.checkpoint.intervalSeconds * 1000))
        else { return }
        lastCheckpoint = clock.now
        startCheckpoint(engine)
    }

    /// The last checkpoint, at a graceful stop: waits for one in flight, drains the outputs (the
    /// stop does anyway), then writes and publishes the final state, all within `timeout`.
    func writeFinalCheckpoint(_ engine: borrowing Engine, within timeout: Duration) {
        guard let writer = checkpointWriter else { return }
        let deadline = clock.now + timeout
        _ = writer.waitIdle(within: timeout)
        guard publisher.drain(within: max(.zero, deadline - clock.now)) else {
            logger.warning("final checkpoint skipped: outputs still unacknowledged",
                           metadata: ["unacked": "\(publisher.unacked)"])
            return
        }
        collectCheckpoint()
        guard startCheckpoint(engine) else { return }
        if !writer.waitIdle(within: max(.zero, deadline - clock.now)) {
            logger.warning("final checkpoint still being written at the end of the grace period; the previous one stands")
        }
        collectCheckpoint()
    }

    /// Hands a copy of the engine state with the positions of every owned partition to the writer
    /// thread. The positions are stored for commit only once the checkpoint is published
    /// (``collectCheckpoint()``). The committed offsets never run ahead of the newest published
    /// checkpoint, as in Flink, where the source commits on checkpoint completion: otherwise a
    /// crash before the first checkpoint that covers a partition (the first interval after
    /// joining) would restart it at the committed offset with none of the state before it.
    @discardableResult
    func startCheckpoint(_ engine: borrowing Engine) -> Bool {
        guard let writer = checkpointWriter else { return false }
        let started = clock.now
        let positions = Self.checkpointPositions(publisher.ledger.partitions, assignedFrom: assignedFrom,
                                                 startOffsets: startOffsets)
        var job = CheckpointWriter.Job(engine: copy engine, slots: positions.slots, awaiting: positions.awaiting,
                                       generation: rebalances, stall: .zero)
        job.stall = clock.now - started
        metrics.checkpointStall.recordNanoseconds(job.stall.inNanoseconds)
        return writer.submit(job)
    }

    /// The position a checkpoint records for each ledger slot, and the offsets whose outputs it
    /// waits for (-1: none).
    ///
    /// A partition read from records the offset after its last input processed, and waits for
    /// its outputs. One whose state came from a checkpoint or a handover and that has not been
    /// read from since records the position that state is at: its start offset when assigned
    /// (`assignedFrom`), or, not yet assigned after a restore, the restored checkpoint's offset
    /// (`startOffsets`). So a checkpoint taken while a restarted process is still joining its
    /// group keeps the positions of the state it holds. Any other partition records -1 (a
    /// restart starts it at the group's committed offset).
    static func checkpointPositions(_ partitions: [OutputLedger.Partition], assignedFrom: [TopicPartition: Int64],
                                    startOffsets: [TopicPartition: Int64]) -> (slots: [RunCheckpoint.Slot], awaiting: [Int64]) {
        var slots: [RunCheckpoint.Slot] = []
        var awaiting: [Int64] = []
        for partition in partitions {
            let topicPartition = partition.topicPartition
            let processed = partition.active ? partition.processed : nil
            let held = partition.active ? assignedFrom[topicPartition] : startOffsets[topicPartition]
            slots.append(RunCheckpoint.Slot(topic: topicPartition.topic, partition: topicPartition.partition,
                                            offset: processed ?? held ?? -1))
            awaiting.append(processed ?? -1)
        }
        return (slots, awaiting)
    }

    /// Takes the writer's outcome, and publishes a written checkpoint once every output of the
    /// inputs it covers is acknowledged, then stores its positions for commit. A rebalance after
    /// the copy discards it: the revoke has committed newer positions already, or the partitions
    /// are someone else's, and the next interval takes a new one.
    func collectCheckpoint() {
        guard let writer = checkpointWriter, let store = checkpointStore else { return }
        if unpublishedCheckpoint == nil, let outcome = writer.takeOutcome() {
            switch outcome.result {
            case .success:
                unpublishedCheckpoint = outcome
            case .failure(let error):
                metrics.checkpointsFailed.increment()
                logger.error("checkpoint failed", metadata: ["error": "\(error.message)"])
            }
        }
        guard let outcome = unpublishedCheckpoint, case .success(let bytes) = outcome.result else { return }
        guard outcome.generation == rebalances else {
            unpublishedCheckpoint = nil
            store.discardTemporary()
            logger.info("checkpoint discarded: a rebalance came after it was taken")
            return
        }
        guard publisher.ledger.isAcknowledged(through: outcome.awaiting) else { return }
        unpublishedCheckpoint = nil
        let file: URL
        do {
            file = try store.publishTemporary()
        } catch {
            metrics.checkpointsFailed.increment()
            logger.error("checkpoint failed", metadata: ["error": "\(error)"])
            return
        }
        metrics.checkpointsWritten.increment()
        metrics.checkpointWrite.recordNanoseconds(outcome.elapsed.inNanoseconds)
        metrics.checkpointBytes.record(bytes)
        metrics.checkpointEvents.record(max(0, outcome.read - readAtStart))
        logger.info("checkpoint written", metadata: [
            "file": "\(file.lastPathComponent)", "bytes": "\(bytes)", "users": "\(outcome.users)",
            "ms": "\(outcome.elapsed.inMilliseconds)",
            "copy_ms": "\(outcome.stall.inSeconds * 1000)",
        ])
        // The positions read up to (the others are where their state came from: nothing to commit).
        var offsets: [TopicPartition: Int64] = [:]
        for (slot, offset) in zip(outcome.slots, outcome.awaiting) where offset >= 0 {
            offsets[TopicPartition(topic: slot.topic, partition: slot.partition)] = offset
        }
        guard !offsets.isEmpty else { return }
        do {
            try consumer.storeOffsets(offsets)
        } catch {
            logger.warning("could not store offsets", metadata: ["error": "\(error)", "offsets": "\(offsets)"])
        }
    }
}
