import Foundation
import FunnelCore
import FunnelKafka

// MARK: - Rebalance, back-pressure, shutdown (pipeline thread)

extension Pipeline {
    /// Hooks run on the pipeline thread, inside `pollBatch`/`close`; `weak` because the consumer
    /// keeps them alive and is itself owned by the pipeline.
    func installHooks() {
        consumer.onPartitionsAssigned = { [weak self] partitions in self?.partitionsAssigned(partitions) }
        consumer.onPartitionsRevoked = { [weak self] partitions in self?.partitionsRevoked(partitions) }
        // Start positions from a restored checkpoint or a handed-over partition state.
        consumer.startOffset = { [weak self] partition in self?.startOffsets.removeValue(forKey: partition) }
        consumer.onPartitionEOF = { [weak self] partition, _ in
            guard let self, let slot = self.publisher.ledger.slot(of: partition) else { return }
            self.caughtUpSlots.append(slot)
        }
        consumer.onError = { [weak self] error in
            guard let self else { return }
            if error.isSecurityFailure {
                self.logger.error("kafka TLS/authentication failure; stopping", metadata: ["error": "\(error)"])
                if self.securityFailure == nil { self.securityFailure = error }
            } else {
                self.clientError(error, client: "consumer")
            }
        }
        publisher.producer.onError = { [weak self] error in self?.clientError(error, client: "producer") }
        let metrics = self.metrics
        consumer.onStatistics = { metrics.recordStatistics($0, client: "consumer") }
        publisher.producer.onStatistics = { metrics.recordStatistics($0, client: "producer") }
    }

    /// Inside a poll, before a rebalance hook: the records read so far are applied first.
    private func applyStagedInHook() {
        guard !stage.isEmpty, let engine = hookEngine, let sink = hookSink else { return }
        applyStaged(engine: &engine.pointee, sink: &sink.pointee)
    }

    private func partitionsAssigned(_ partitions: [TopicPartition]) {
        applyStagedInHook()
        rebalances &+= 1
        for partition in partitions { assignedSlots.append(activate(partition)) }
        takeOver(partitions)
        // Where each partition starts when it is known here (a checkpoint or a handed-over state):
        // the position of its users' state should it be revoked before reading anything.
        for partition in partitions { assignedFrom[partition] = startOffsets[partition] }
        assignment = partitions
        // A new assignment starts fetching; the next batch re-applies back-pressure if needed.
        paused = false
        metrics.paused.record(0)
        metrics.assignedPartitions.record(partitions.count)
        health.update {
            $0.assignedPartitions = partitions.count
            $0.totalLag = nil
            $0.paused = false
        }
    }

    /// Before the partitions go away: wait (bounded) for their outputs, commit what is fully
    /// acknowledged, then forget their FIFOs. Whatever is still un-acked is reprocessed by the
    /// next owner, which is the at-least-once contract.
    /// With `checkpoint.handover`, the revoked partitions' states are written between the drain
    /// and the commit (``handOver(_:)``), only if every output is acknowledged: a state must not
    /// be ahead of what is delivered.
    private func partitionsRevoked(_ partitions: [TopicPartition]) {
        applyStagedInHook()
        rebalances &+= 1
        var drained = false
        if publisher.failure == nil {
            drained = publisher.drain(within: remainingFlushTime())
            if !drained {
                logger.warning("revoking with un-acked outputs; their inputs will be reprocessed",
                               metadata: ["unacked": "\(publisher.unacked)"])
            }
        }
        storeCommittable()
        if drained {
            handOver(partitions)
        } else if partitionStates != nil {
            logger.warning("partition states not handed over: outputs unacknowledged",
                           metadata: ["partitions": "\(partitions)"])
        }
        commitSync()
        for partition in partitions {
            // A revoked partition must not hold this engine's watermark back any more.
            if let slot = publisher.ledger.slot(of: partition) { caughtUpSlots.append(slot) }
            publisher.ledger.deactivate(partition)
        }
        assignment.removeAll { partitions.contains($0) }
        cachedPartition = -1
        metrics.assignedPartitions.record(assignment.count)
        health.update {
            $0.assignedPartitions = self.assignment.count
            $0.totalLag = nil
        }
    }

    /// Pause all partitions above the in-flight limit, resume below half of it.
    func applyBackPressure() {
        let inFlight = max(publisher.producer.outstanding, publisher.unacked)
        let limit = config.kafka.maxInFlightOutputs
        if !paused, inFlight > limit {
            setPaused(true, inFlight: inFlight)
        } else if paused, inFlight < limit / 2 || (inFlight == 0) {
            setPaused(false, inFlight: inFlight)
        }
    }

    private func setPaused(_ pause: Bool, inFlight: Int) {
        do {
            let partitions = try consumer.assignment()
            if pause { try consumer.pause(partitions) } else { try consumer.resume(partitions) }
            paused = pause
            metrics.paused.record(pause ? 1 : 0)
            health.update { $0.paused = pause }
            logger.info(pause ? "back-pressure: paused fetching" : "back-pressure: resumed fetching",
                        metadata: ["in_flight": "\(inFlight)", "limit": "\(config.kafka.maxInFlightOutputs)"])
        } catch {
            logger.warning("could not \(pause ? "pause" : "resume") partitions", metadata: ["error": "\(error)"])
        }
    }

    func updateLag() {
        do {
            let lag = try consumer.lag()
            var total: Int64 = 0
            for (partition, value) in lag {
                metrics.recordLag(value, for: partition)
                total += value
            }
            let known = !assignment.isEmpty && lag.count == assignment.count
            health.update { $0.totalLag = known ? total : nil }
        } catch {
            logger.debug("lag unavailable", metadata: ["error": "\(error)"])
        }
    }

    /// Per-batch metric updates from counters the loop keeps itself.
    func recordBatchMetrics(engine: borrowing Engine, reported: inout EngineStats) {
        let stats = engine.stats
        if stats != reported {
            metrics.recordEngineDelta(from: reported, to: stats)
            reported = stats
        }
        let counts = publisher.takeCounts()
        for (index, topic) in publisher.topics.enumerated() {
            metrics.recordOutputs(counts.delivered[index], topic: topic)
            metrics.recordOutputErrors(counts.failed[index], topic: topic)
            metrics.recordOutputRetries(counts.retried[index], topic: topic)
        }
        metrics.trackedUsers.record(engine.users.count)
        metrics.recordState(engine)
        var modelView: PipelineHealth.ModelView?
        if let model = engine.model {
            let recent = model.quality.recent
            modelView = .init(version: model.version, resolved: model.quality.all.count, pending: model.pending.count,
                              auc: recent.auc, logLoss: recent.logLoss, meanScore: recent.meanScore,
                              positiveRate: recent.positiveRate)
        }
        let read = stats.read
        health.update {
            $0.model = modelView
            $0.eventsRead = read
        }
        if engine.watermark != .min { metrics.watermark.record(Double(engine.watermark) / 1_000_000) }
        metrics.unackedOutputs.record(publisher.unacked)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for sample in publisher.ledger.takeLatencySamples(nowMilliseconds: now) {
            metrics.processingLatency.recordMilliseconds(sample)
        }
    }

    /// The loop is over: flush what is in flight (bounded by the grace period), commit what is
    /// fully acknowledged, leave the group (its revoke hook commits once more).
    func finish(failure: (any Error)?) {
        health.update { $0.stopping = true }
        if failure == nil, publisher.failure == nil {
            let drained = publisher.drain(within: remainingFlushTime())
            if !drained {
                logger.warning("shutdown grace ran out with un-acked outputs; their inputs stay uncommitted",
                               metadata: ["unacked": "\(publisher.unacked)"])
            }
        }
        storeCommittable()
        commitSync()
        do {
            try consumer.close()
        } catch {
            logger.warning("consumer close failed", metadata: ["error": "\(error)"])
        }
    }
}
