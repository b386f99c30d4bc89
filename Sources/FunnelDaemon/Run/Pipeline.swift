import Foundation
import FunnelCore
import FunnelKafka
import Logging
import Synchronization

/// Kafka in → engine → Kafka out, at least once, on one dedicated thread.
///
/// Everything that touches librdkafka or the engine runs on that thread (``run()`` starts it):
/// the consumer's rebalance hooks, the producer's delivery reports, offset storage, pausing.
/// Blocking calls (poll with timeout, flush, commit) therefore never occupy the cooperative pool,
/// and the per-event path takes no lock. Other threads may only call ``requestStop()`` and read
/// ``health``; hence `@unchecked Sendable`.
///
/// Engine state is shared by all assigned partitions; with `checkpoint.handover` the users of a
/// revoked partition are handed to its next owner (``handOver(_:)``, ``takeOver(_:)``).
public final class Pipeline: @unchecked Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case outputLost(KafkaError)
        case consumer(any Error)

        public var description: String {
            switch self {
            case .outputLost(let error): "an output record could not be delivered: \(error)"
            case .consumer(let error): "consumer failed: \(error)"
            }
        }
    }

    public let config: FunnelPulseConfig
    public let health: PipelineHealth
    let logger: Logger
    let metrics: PipelineMetrics
    let consumer: KafkaConsumer
    let publisher: OutputPublisher
    let clock = ContinuousClock()

    /// Handed to the thread on start; nil afterwards (the loop owns the engine as a local).
    private var initialEngine: Engine?
    /// Used per message on the pipeline thread, never re-entrantly: no dynamic exclusivity
    /// check (see OutputPublisher), nor for the cached partition below.
    @exclusivity(unchecked) private var decoders: [RecordDecoder]
    private let decoderByTopic: [String: Int]
    /// Decoder index per ledger slot (``SourcePosition/source``).
    @exclusivity(unchecked) var decoderBySlot: [Int] = []
    /// Last message's partition and slot: consecutive messages mostly share a partition.
    @exclusivity(unchecked) var cachedTopic = ""
    @exclusivity(unchecked) var cachedPartition: Int32 = -1
    @exclusivity(unchecked) var cachedSlot: Int32 = -1
    /// Partitions that reached their end during the last poll (marked idle in the engine after it).
    var caughtUpSlots: [Int32] = []
    /// Partitions assigned during the last poll: they hold the watermark until they report.
    var assignedSlots: [Int32] = []
    var paused = false
    var assignment: [TopicPartition] = []
    /// Checkpoints (nil when `checkpoint.directory` is empty), the one restored at start, the
    /// start offsets it still has to hand to the consumer, and when the last one was written.
    var checkpointStore: CheckpointStore?
    var checkpointWriter: CheckpointWriter?
    /// A checkpoint the writer has written, waiting for its outputs' acknowledgements.
    var unpublishedCheckpoint: CheckpointWriter.Outcome?
    /// Rebalances so far (assignments and revocations): a checkpoint taken before one does not
    /// commit its positions.
    var rebalances: UInt64 = 0
    /// The engine's count of events read when this process started (restored ones).
    var readAtStart = 0
    var restoredCheckpoint: RunCheckpoint?
    var startOffsets: [TopicPartition: Int64] = [:]
    var lastCheckpoint = ContinuousClock.now
    /// Partition handover store (nil when `checkpoint.handover` is `none`).
    var partitionStates: (any PartitionStateStore)?
    /// The start position of each assigned partition when known at assignment, for a revoke that
    /// comes before its first input.
    var assignedFrom: [TopicPartition: Int64] = [:]
    /// The loop's engine while librdkafka may run the rebalance hooks (inside `pollBatch` and
    /// `close`), which export and import partition states. The hooks run on the pipeline thread
    /// between two messages, never during an engine call, so they are the only access then. A
    /// pointer rather than a stored engine keeps the per-event path free of exclusivity checks.
    var hookEngine: UnsafeMutablePointer<Engine>?
    /// The loop's output sink, for the same hooks (they apply staged records before a rebalance).
    var hookSink: UnsafeMutablePointer<KafkaOutputSink>?
    /// Records read but not yet applied: applied at the end of each poll, when the stage fills,
    /// and before any rebalance hook, so no hook ever sees a partition with unapplied input.
    let stage = InputStage()
    /// A TLS or SASL failure the consumer reported (``KafkaError/isSecurityFailure``): the loop
    /// stops with it instead of retrying a configuration that cannot work (a wrong CA would
    /// otherwise leave the daemon running, never ready, forever).
    var securityFailure: KafkaError?

    private let stopRequested = Atomic<Bool>(false)
    private let started = Atomic<Bool>(false)
    private let stopDeadline = Mutex<ContinuousClock.Instant?>(nil)
    private let exitStats = Mutex<EngineStats?>(nil)
    private let exitHandover = Mutex<HandoverStats?>(nil)

    /// - Parameters:
    ///   - mappings: one compiled mapping per `config.inputs` entry, same order.
    ///   - metrics: where per-batch metrics go (a private factory in tests).
    public init(
        config: FunnelPulseConfig,
        mappings: [CompiledMapping],
        logger: Logger,
        metrics: PipelineMetrics,
        health: PipelineHealth? = nil
    ) throws {
        guard mappings.count == config.inputs.count else {
            throw Commands.Failure("one mapping per input is needed (\(mappings.count) for \(config.inputs.count))")
        }
        self.config = config
        self.logger = logger
        self.metrics = metrics
        self.health = health ?? PipelineHealth(maxLag: Int64(config.kafka.readyMaxLag))
        initialEngine = try Engine(config: config.engine)
        if !config.checkpoint.directory.isEmpty {
            let store = try CheckpointStore(directory: config.checkpoint.directory, keep: config.checkpoint.keep,
                                            logger: logger)
            checkpointStore = store
            checkpointWriter = CheckpointWriter(store: store)
            if let restored = store.restore(config: config.engine) {
                initialEngine = restored.engine
                restoredCheckpoint = restored.checkpoint
                logger.info("state restored from checkpoint", metadata: [
                    "file": "\(restored.file.lastPathComponent)", "users": "\(restored.engine.users.count)",
                    "events": "\(restored.engine.stats.accepted)",
                    "offsets": "\(restored.checkpoint.slots.filter { $0.offset >= 0 }.map { "\($0.topic)[\($0.partition)]@\($0.offset)" })",
                ])
            } else {
                logger.info("no checkpoint to restore; starting with empty state",
                            metadata: ["directory": "\(config.checkpoint.directory)"])
            }
        }
        switch config.checkpoint.handover {
        case "directory":
            partitionStates = try DirectoryPartitionStateStore(directory: config.checkpoint.partitionStateDirectory,
                                                               logger: logger)
        case "topic":
            var producerSettings = KafkaClientSettings.producer(config)
            producerSettings["statistics.interval.ms"] = nil
            producerSettings["linger.ms"] = "0"
            partitionStates = try TopicPartitionStateStore(
                topic: config.checkpoint.handoverTopic, group: config.kafka.groupID,
                chunkBytes: config.checkpoint.handoverChunkBytes, producerSettings: producerSettings,
                readerSettings: KafkaClientSettings.consumer(config),
                timeoutMilliseconds: Int32(clamping: Int(config.shutdownGraceSeconds * 1000)), logger: logger)
        default:
            break
        }
        // After any restore: checkpoints never carry the pseudonymization key.
        initialEngine?.setUserPseudonymizer(try config.privacy.pseudonymizer(environment: ProcessInfo.processInfo.environment))
        decoders = mappings.map { RecordDecoder(mapping: $0) }
        decoderByTopic = Dictionary(uniqueKeysWithValues: config.inputs.enumerated().map { ($1.topic, $0) })
        consumer = try KafkaConsumer(configuration: KafkaClientSettings.consumer(config), logger: logger)
        let producer = try KafkaProducer(configuration: KafkaClientSettings.producer(config), logger: logger)
        publisher = OutputPublisher(
            producer: producer,
            topics: [config.outputs.scores, config.outputs.funnel, config.outputs.deadletter, config.outputs.alerts],
            settings: .init(
                maxInFlight: config.kafka.maxInFlightOutputs,
                retries: config.kafka.deliveryRetries,
                retryBackoff: .milliseconds(config.kafka.deliveryRetryBackoffMs)),
            logger: logger)
        publisher.shouldAbandonWaiting = { [weak self] in self?.isPastStopDeadline ?? true }
        installHooks()
    }

    // MARK: - Control (any thread)

    /// Runs the pipeline on its own thread until stopped or failed.
    /// - Throws: ``Failure`` when the pipeline stopped because it could not go on.
    public func run() async throws {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else {
            throw Commands.Failure("the pipeline was already started")
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            // The thread holds the pipeline only while the loop runs: when `run()` returns, the
            // caller holds the last reference, so the Kafka handles are destroyed (their threads
            // joined) before the caller goes on, never concurrently with a process exit (which
            // crashed in OpenSSL's exit cleanup while a TLS client's threads were still running).
            let thread = Thread { [weak self] in
                ThreadName.setCurrent("fp-pipeline")
                let result: Result<Void, any Error>
                if let pipeline = self {
                    result = Result { try pipeline.runLoop() }
                } else {
                    result = .success(())
                }
                continuation.resume(with: result)
            }
            thread.name = "funnelpulse-pipeline"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// Stop fetching, finish the batch in hand, flush, commit, leave the group, all within
    /// `shutdown_grace_seconds` from now. Idempotent; callable from any thread.
    public func requestStop() {
        guard !stopRequested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        stopDeadline.withLock { $0 = clock.now + .milliseconds(Int(config.shutdownGraceSeconds * 1000)) }
        health.update { $0.stopping = true }
    }

    /// Engine counters when the loop ended (nil while running).
    public var statsAtExit: EngineStats? { exitStats.withLock { $0 } }

    /// Partition handovers of the engine when the loop ended (nil while running).
    public var handoverAtExit: HandoverStats? { exitHandover.withLock { $0 } }

    var isStopping: Bool { stopRequested.load(ordering: .acquiring) }

    var isPastStopDeadline: Bool {
        guard isStopping, let deadline = stopDeadline.withLock({ $0 }) else { return false }
        return clock.now >= deadline
    }

    /// Time left for flushing before the consumer must be closed (1 s of the grace is kept for
    /// the final commit and the group leave).
    func remainingFlushTime() -> Duration {
        guard let deadline = stopDeadline.withLock({ $0 }) else {
            return .milliseconds(Int(config.shutdownGraceSeconds * 1000))
        }
        return max(.zero, deadline - clock.now - .seconds(1))
    }

    // MARK: - The loop (pipeline thread)

    private func runLoop() throws {
        guard var engine = initialEngine else { return }
        initialEngine = nil
        if let restored = restoredCheckpoint {
            restoreSlots(restored, engine: &engine)
            restoredCheckpoint = nil
        }
        lastCheckpoint = clock.now
        defer {
            exitStats.withLock { [stats = engine.stats] in $0 = stats }
            exitHandover.withLock { [handover = engine.handover] in $0 = handover }
        }
        do {
            try TopicProvisioner.ensureTopics(config, logger: logger)
            try consumer.subscribe(topics: config.inputs.map(\.topic))
        } catch {
            health.update { $0.failure = "\(error)" }
            throw Failure.consumer(error)
        }
        health.update { $0.started = true }
        logger.info("pipeline started", metadata: ["topics": "\(config.inputs.map(\.topic))",
                                                   "group": "\(config.kafka.groupID)"])
        var sink = KafkaOutputSink(
            publisher: publisher,
            featureNames: engine.model?.features.names ?? [],
            stepNames: engine.model?.quality.stepNames ?? [],
            pseudonymizer: engine.userPseudonymizer)
        var reported = engine.stats
        readAtStart = engine.stats.read
        var stallWatch = InputStallWatch(afterSeconds: config.engine.alerts.enabled ? config.engine.alerts.funnel.stallAfterSeconds : 0)
        var lastLagCheck = clock.now - .seconds(10)
        var failure: (any Error)?
        let batch = config.kafka.pollBatch

        while !isStopping, publisher.failure == nil {
            do {
                try withUnsafeMutablePointer(to: &engine) { engine in
                    try withUnsafeMutablePointer(to: &sink) { sink in
                        hookEngine = engine
                        hookSink = sink
                        defer {
                            hookEngine = nil
                            hookSink = nil
                        }
                        defer { applyStaged(engine: &engine.pointee, sink: &sink.pointee) }
                        try consumer.pollBatch(maxMessages: batch, timeoutMilliseconds: 100) { message in
                            stage(message, engine: &engine.pointee, sink: &sink.pointee)
                        }
                    }
                }
            } catch {
                failure = error
                break
            }
            if let securityFailure {
                failure = securityFailure
                break
            }
            // Caught-up partitions stop holding the watermark back (per-partition watermarks).
            for slot in assignedSlots { engine.registerSource(slot) }
            assignedSlots.removeAll(keepingCapacity: true)
            for slot in caughtUpSlots { engine.setSourceIdle(slot, true) }
            caughtUpSlots.removeAll(keepingCapacity: true)
            if let alert = stallWatch.check(now: clock.now, recordsRead: engine.stats.read + engine.stats.skipped,
                                            eventTime: max(engine.maxEventTime, 0)) {
                logger.warning("\(alert.message)", metadata: ["alert": "\(alert.id)", "state": "\(alert.state.rawValue)"])
                sink.alert(alert)
            }
            publisher.service(timeoutMilliseconds: 0)
            // With checkpoints, offsets are committed only once a checkpoint holds the state
            // they lead to (``collectCheckpoint()``).
            if checkpointStore == nil { storeCommittable() }
            applyBackPressure()
            recordBatchMetrics(engine: engine, reported: &reported)
            metrics.recordAlerts(sink.alertCounts, firing: engine.alerts?.funnel.firing ?? 0)
            checkpointIfDue(engine)
            if clock.now - lastLagCheck >= .seconds(1) {
                lastLagCheck = clock.now
                updateLag()
                probeUnreachableBrokers()
            }
        }
        if failure == nil, publisher.failure == nil { requestStop() }
        if failure == nil, publisher.failure == nil, checkpointStore != nil {
            // The final checkpoint: a graceful restart resumes exactly here, with no duplicates.
            writeFinalCheckpoint(engine, within: remainingFlushTime())
        }
        // Leaving the group revokes every partition: their states go to the next owners.
        withUnsafeMutablePointer(to: &engine) { engine in
            hookEngine = engine
            defer { hookEngine = nil }
            finish(failure: failure)
        }
        recordBatchMetrics(engine: engine, reported: &reported)
        metrics.recordAlerts(sink.alertCounts, firing: engine.alerts?.funnel.firing ?? 0)
        if let lost = publisher.failure {
            health.update { $0.failure = "output lost: \(lost)" }
            throw Failure.outputLost(lost)
        }
        if let failure {
            health.update { $0.failure = "\(failure)" }
            throw Failure.consumer(failure)
        }
        logger.info("pipeline stopped", metadata: ["read": "\(engine.stats.read)"])
    }

    /// Stages one message for the engine's batch passes (applied when the stage fills, at the end
    /// of the poll, or before a rebalance hook).
    @inline(__always)
    private func stage(_ message: KafkaMessageView, engine: inout Engine, sink: inout KafkaOutputSink) {
        let slot = slot(for: message)
        let position = SourcePosition(source: slot, offset: message.offset)
        if let payload = message.payload {
            let record = stage.copy(payload)
            let decoder = Int(slot) < decoderBySlot.count ? decoderBySlot[Int(slot)] : 0
            engine.stage(record, at: position, decoder: &decoders[decoder], into: &stage.batch)
        } else {
            engine.stage(rejecting: DecodeFailure(.tombstone, "null message value (tombstone)"),
                         record: UnsafeRawBufferPointer(start: nil, count: 0), at: position, into: &stage.batch)
        }
        stage.noteOrigin(.init(slot: slot, offset: message.offset,
                               timestampMilliseconds: message.timestampMilliseconds ?? -1))
        if stage.isFull { applyStaged(engine: &engine, sink: &sink) }
    }

    /// Applies every staged record in order, each attributed to its input in the output ledger.
    func applyStaged(engine: inout Engine, sink: inout KafkaOutputSink) {
        guard !stage.isEmpty else { return }
        engine.requestRecords(for: stage.batch)
        for i in 0..<stage.batch.count {
            let origin = stage.origins[i]
            publisher.ledger.beginInput(
                partition: origin.slot, offset: origin.offset, timestampMilliseconds: origin.timestampMilliseconds)
            engine.applyStaged(&stage.batch, at: i, sink: &sink)
            publisher.ledger.endInput()
        }
        stage.reset()
    }

    private func slot(for message: KafkaMessageView) -> Int32 {
        if message.partition == cachedPartition, message.topic == cachedTopic { return cachedSlot }
        let slot = activate(message.topicPartition)
        cachedTopic = message.topic
        cachedPartition = message.partition
        cachedSlot = slot
        return slot
    }

    /// The ledger slot of a partition, with its decoder chosen by topic.
    func activate(_ topicPartition: TopicPartition) -> Int32 {
        let slot = publisher.ledger.activate(topicPartition)
        while decoderBySlot.count <= Int(slot) { decoderBySlot.append(0) }
        decoderBySlot[Int(slot)] = decoderByTopic[topicPartition.topic] ?? 0
        return slot
    }

    /// Stores every offset whose outputs (and those of all earlier offsets) are acknowledged;
    /// auto-commit sends them, and revoke/shutdown commit them synchronously.
    func storeCommittable() {
        let offsets = publisher.ledger.takeCommittable()
        guard !offsets.isEmpty else { return }
        do {
            try consumer.storeOffsets(offsets)
        } catch {
            logger.warning("could not store offsets", metadata: ["error": "\(error)", "offsets": "\(offsets)"])
        }
    }

    func commitSync() {
        do {
            try consumer.commitSync()
        } catch {
            logger.warning("offset commit failed", metadata: ["error": "\(error)"])
        }
    }
}
