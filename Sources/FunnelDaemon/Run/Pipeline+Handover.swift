import FunnelCore
import FunnelKafka

/// Partition handover on a rebalance (`checkpoint.handover`, docs/checkpoints.md), pipeline thread.
///
/// On revoke, once the outputs of everything read are acknowledged, each revoked partition's
/// users are exported from the engine (``Engine/exportPartition(source:)``) and written with the
/// partition's processed offset, before the offsets are committed and the revoke completes. On
/// assign, before fetching starts, a stored state is loaded and the partition starts at its
/// offset — only if the state still corresponds to where the group is: its offset is at or after
/// the committed one. States are written only when everything before their offset is delivered,
/// so starting there loses no output even when the commit that followed did not go through
/// (offset > committed). A state behind the committed offset is stale: another owner went on
/// consuming after it (and lost its own state, or handover was off); replaying from it would
/// re-emit an unbounded stretch of outputs, so it is skipped and the partition starts from the
/// committed offset with those users fresh.
extension Pipeline {
    /// Exports and writes the states of the revoked partitions (outputs drained, offsets stored).
    func handOver(_ partitions: [TopicPartition]) {
        guard let store = partitionStates, !partitions.isEmpty else { return }
        guard let engine = hookEngine else {
            logger.warning("partition revoked outside the poll loop; its state is not handed over",
                           metadata: ["partitions": "\(partitions)"])
            return
        }
        var states: [PartitionHandoverState] = []
        var users: [TopicPartition: Int] = [:]
        for partition in partitions {
            guard let slot = publisher.ledger.slot(of: partition) else { continue }
            guard let offset = publisher.ledger.partitions[Int(slot)].processed ?? assignedFrom[partition] else {
                logger.debug("no position for a revoked partition; nothing to hand over",
                             metadata: ["partition": "\(partition)"])
                continue
            }
            let before = engine.pointee.handover.usersOut
            do {
                let bytes = try engine.pointee.exportPartition(source: slot)
                users[partition] = engine.pointee.handover.usersOut - before
                states.append(PartitionHandoverState(partition: partition, offset: offset, state: bytes))
            } catch {
                logger.error("partition state not exported", metadata: ["partition": "\(partition)", "error": "\(error)"])
            }
        }
        let started = clock.now
        do {
            try store.write(states)
        } catch {
            logger.error("partition states not written; their next owner starts these users afresh",
                         metadata: ["store": "\(store.kind)", "error": "\(error)"])
            return
        }
        let elapsed = clock.now - started
        for state in states {
            metrics.handoversOut.increment()
            assignedFrom[state.partition] = nil
            logger.info("partition state handed over", metadata: [
                "partition": "\(state.partition)", "offset": "\(state.offset)", "users": "\(users[state.partition] ?? 0)",
                "bytes": "\(state.state.count)", "store": "\(store.kind)",
                "write_ms": "\(elapsed.inMilliseconds)",
            ])
        }
    }

    /// Loads the stored states of newly assigned partitions that match the group's position, and
    /// arranges for those partitions to start at the states' offsets.
    func takeOver(_ partitions: [TopicPartition]) {
        guard let store = partitionStates, !partitions.isEmpty else { return }
        guard let engine = hookEngine else {
            logger.warning("partition assigned outside the poll loop; no state loaded",
                           metadata: ["partitions": "\(partitions)"])
            return
        }
        let states: [TopicPartition: PartitionHandoverState]
        do {
            states = try store.read(partitions)
        } catch {
            logger.error("partition states unreadable; these partitions start without them",
                         metadata: ["store": "\(store.kind)", "error": "\(error)"])
            return
        }
        guard !states.isEmpty else { return }
        let committed: [TopicPartition: Int64?]
        do {
            committed = try consumer.committed(Array(states.keys), timeoutMilliseconds: 10_000)
        } catch {
            logger.error("committed offsets unavailable; partition states not used",
                         metadata: ["error": "\(error)"])
            return
        }
        for (partition, state) in states.sorted(by: { $0.key.description < $1.key.description }) {
            if let position = committed[partition] ?? nil, position >= 0, state.offset < position {
                logger.warning("partition state skipped: the group consumed past it", metadata: [
                    "partition": "\(partition)", "state_offset": "\(state.offset)", "committed": "\(position)",
                ])
                continue
            }
            guard let slot = publisher.ledger.slot(of: partition) else { continue }
            let before = engine.pointee.handover.usersIn
            do {
                try engine.pointee.importPartition(state.state, source: slot)
            } catch {
                logger.error("partition state refused", metadata: ["partition": "\(partition)", "reason": "\(error)"])
                continue
            }
            startOffsets[partition] = state.offset
            metrics.handoversIn.increment()
            logger.info("partition state loaded", metadata: [
                "partition": "\(partition)", "offset": "\(state.offset)",
                "users": "\(engine.pointee.handover.usersIn - before)", "bytes": "\(state.state.count)",
                "store": "\(store.kind)",
            ])
        }
    }
}
