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

    func checkpointIfDue(_ engine: borrowing Engine) {
        guard checkpointStore != nil,
            clock.now - lastCheckpoint >= .milliseconds(Int(config.checkpoint.intervalSeconds * 1000))
        else { return }
        lastCheckpoint = clock.now
        writeCheckpoint(engine, drainWithin: .milliseconds(Int(config.shutdownGraceSeconds * 1000)))
    }

    /// Drains the outputs, then writes the engine state with the positions of every owned partition,
    /// and only then stores those positions for commit. The committed offsets never run ahead of the
    /// newest checkpoint, as in Flink, where the source commits on checkpoint completion: otherwise a
    /// crash before the first checkpoint that covers a partition (the first interval after
    /// joining) would restart it at the committed offset with none of the state before it.
    func writeCheckpoint(_ engine: borrowing Engine, drainWithin timeout: Duration) {
        guard let store = checkpointStore else { return }
        guard publisher.drain(within: timeout) else {
            logger.warning("checkpoint skipped: outputs still unacknowledged",
                           metadata: ["unacked": "\(publisher.unacked)"])
            return
        }
        let started = clock.now
        let slots = publisher.ledger.partitions.map { partition in
            RunCheckpoint.Slot(topic: partition.topicPartition.topic, partition: partition.topicPartition.partition,
                               offset: partition.active ? (partition.processed ?? -1) : -1)
        }
        do {
            let state = try engine.checkpoint()
            let written = try store.write(RunCheckpoint(slots: slots, engine: state))
            let elapsed = clock.now - started
            logger.info("checkpoint written", metadata: [
                "file": "\(written.file.lastPathComponent)", "bytes": "\(written.bytes)",
                "users": "\(engine.users.count)",
                "ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
            ])
            storeCommittable()
        } catch {
            logger.error("checkpoint failed", metadata: ["error": "\(error)"])
        }
    }
}
