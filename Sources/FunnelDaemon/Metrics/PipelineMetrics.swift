import CoreMetrics
import FunnelCore
import FunnelKafka

/// Every metric the `run` daemon exports: names and label keys live here and nowhere else.
///
/// The pipeline thread updates these once per poll batch from plain counters it keeps itself, so
/// the per-event path never takes a metrics lock. Metrics with a label whose values are only known
/// at run time (topic, partition, reason, broker) are created lazily and cached; they are only
/// touched from the pipeline thread, except the statistics gauges, which librdkafka's statistics
/// callback updates on the thread that polls that client (also the pipeline thread).
public final class PipelineMetrics: @unchecked Sendable {
    /// Metric names (Prometheus conventions: `_total` for counters, base units in the name).
    public enum Name {
        public static let eventsIn = "funnelpulse_events_in_total"
        public static let eventsAccepted = "funnelpulse_events_accepted_total"
        public static let eventsRejected = "funnelpulse_events_rejected_total"
        public static let duplicates = "funnelpulse_duplicates_total"
        public static let outputs = "funnelpulse_outputs_total"
        public static let outputErrors = "funnelpulse_output_errors_total"
        public static let outputRetries = "funnelpulse_output_retries_total"
        public static let consumerLag = "funnelpulse_consumer_lag"
        public static let processingLatency = "funnelpulse_processing_latency_seconds"
        public static let trackedUsers = "funnelpulse_tracked_users"
        public static let watermark = "funnelpulse_watermark_seconds"
        public static let paused = "funnelpulse_paused"
        public static let unackedOutputs = "funnelpulse_unacked_outputs"
        public static let assignedPartitions = "funnelpulse_assigned_partitions"
        public static let kafkaQueueMessages = "funnelpulse_kafka_queue_messages"
        public static let kafkaTxMessages = "funnelpulse_kafka_tx_messages"
        public static let kafkaRxMessages = "funnelpulse_kafka_rx_messages"
        public static let kafkaBrokerRTT = "funnelpulse_kafka_broker_rtt_seconds"
        public static let usersEvicted = "funnelpulse_users_evicted_total"
        /// Open funnel attempts and watched carts closed early by their caps (one per tracked user).
        public static let stateEvicted = "funnelpulse_state_evicted_total"
        public static let pendingLabels = "funnelpulse_pending_labels"
        public static let modelAUC = "funnelpulse_model_auc"
        public static let modelLogLoss = "funnelpulse_model_log_loss"
        public static let modelMeanScore = "funnelpulse_model_mean_score"
        public static let modelPositiveRate = "funnelpulse_model_positive_rate"
        public static let modelVersion = "funnelpulse_model_version"
        public static let alerts = "funnelpulse_alerts_total"
        public static let alertsFiring = "funnelpulse_alerts_firing"
        public static let partitionHandovers = "funnelpulse_partition_handovers_total"
        public static let checkpoints = "funnelpulse_checkpoints_total"
        public static let checkpointWrite = "funnelpulse_checkpoint_write_seconds"
        public static let checkpointStall = "funnelpulse_checkpoint_pipeline_seconds"
        public static let checkpointBytes = "funnelpulse_checkpoint_bytes"
        public static let checkpointEvents = "funnelpulse_checkpoint_events_in"
    }

    /// Label keys.
    public enum Label {
        public static let reason = "reason"
        public static let topic = "topic"
        public static let partition = "partition"
        public static let client = "client"
        public static let broker = "broker"
        /// `recent` (the last quality_window resolved predictions) or `all`.
        public static let window = "window"
        /// `idle` (TTL in event time) or `capacity` (max_users reached).
        public static let cause = "cause"
        /// Alert kind (`funnel_drop`, `velocity`, …) and state (`firing`, `resolved`, `signal`).
        public static let kind = "kind"
        public static let state = "state"
        /// Partition handover direction: `out` (state written on revoke) or `in` (loaded on assign).
        public static let direction = "direction"
        public static let result = "result"
    }

    private let factory: any MetricsFactory
    let eventsIn: Counter
    let eventsAccepted: Counter
    let duplicates: Counter
    let processingLatency: Timer
    let trackedUsers: Gauge
    let watermark: Gauge
    let paused: Gauge
    let unackedOutputs: Gauge
    let assignedPartitions: Gauge
    let pendingLabels: Gauge
    let modelVersion: Gauge
    private let evictedIdle: Counter
    let handoversOut: Counter
    let handoversIn: Counter
    /// Checkpoints written / failed; encode + write time (writer thread); pipeline-thread time
    /// (the copy of the engine); size of the last one.
    let checkpointsWritten: Counter
    let checkpointsFailed: Counter
    let checkpointWrite: Timer
    let checkpointStall: Timer
    let checkpointBytes: Gauge
    /// Of the events this process read (`funnelpulse_events_in_total`), those the newest
    /// published checkpoint covers: the difference is what a crash now would read again.
    let checkpointEvents: Gauge
    private let evictedCapacity: Counter
    private let evictedAttempts: Counter
    private let evictedCarts: Counter
    private var reportedStateEvictions = (attempts: Int64(0), carts: 0)
    /// [recent, all] × [auc, log loss, mean score, positive rate].
    private let quality: [[Gauge]]
    private var reportedEvictions = (idle: 0, capacity: 0)
    private let rejected: [Counter]
    private var outputs: [String: Counter] = [:]
    private var alertCounters: [String: Counter] = [:]
    private var reportedAlerts = AlertCounts()
    let alertsFiring: Gauge
    private var outputErrors: [String: Counter] = [:]
    private var outputRetries: [String: Counter] = [:]
    private var lag: [TopicPartition: Gauge] = [:]
    private var statistics: [String: Gauge] = [:]

    /// - Parameter factory: the process-wide factory in the daemon; a private one in tests.
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        eventsIn = Counter(label: Name.eventsIn, factory: factory)
        eventsAccepted = Counter(label: Name.eventsAccepted, factory: factory)
        duplicates = Counter(label: Name.duplicates, factory: factory)
        processingLatency = Timer(label: Name.processingLatency, factory: factory)
        trackedUsers = Gauge(label: Name.trackedUsers, factory: factory)
        watermark = Gauge(label: Name.watermark, factory: factory)
        paused = Gauge(label: Name.paused, factory: factory)
        unackedOutputs = Gauge(label: Name.unackedOutputs, factory: factory)
        assignedPartitions = Gauge(label: Name.assignedPartitions, factory: factory)
        pendingLabels = Gauge(label: Name.pendingLabels, factory: factory)
        modelVersion = Gauge(label: Name.modelVersion, factory: factory)
        alertsFiring = Gauge(label: Name.alertsFiring, factory: factory)
        handoversOut = Counter(label: Name.partitionHandovers, dimensions: [(Label.direction, "out")], factory: factory)
        handoversIn = Counter(label: Name.partitionHandovers, dimensions: [(Label.direction, "in")], factory: factory)
        checkpointsWritten = Counter(label: Name.checkpoints, dimensions: [(Label.result, "written")], factory: factory)
        checkpointsFailed = Counter(label: Name.checkpoints, dimensions: [(Label.result, "failed")], factory: factory)
        checkpointWrite = Timer(label: Name.checkpointWrite, factory: factory)
        checkpointStall = Timer(label: Name.checkpointStall, factory: factory)
        checkpointBytes = Gauge(label: Name.checkpointBytes, factory: factory)
        checkpointEvents = Gauge(label: Name.checkpointEvents, factory: factory)
        evictedIdle = Counter(label: Name.usersEvicted, dimensions: [(Label.cause, "idle")], factory: factory)
        evictedCapacity = Counter(label: Name.usersEvicted, dimensions: [(Label.cause, "capacity")], factory: factory)
        evictedAttempts = Counter(label: Name.stateEvicted, dimensions: [("table", "funnel_attempts")], factory: factory)
        evictedCarts = Counter(label: Name.stateEvicted, dimensions: [("table", "open_carts")], factory: factory)
        quality = ["recent", "all"].map { window in
            [Name.modelAUC, Name.modelLogLoss, Name.modelMeanScore, Name.modelPositiveRate].map {
                Gauge(label: $0, dimensions: [(Label.window, window)], factory: factory)
            }
        }
        // One counter per reason up front: the reasons are a closed set and dashboards want zeros.
        rejected = DeadLetterReason.allCases.map {
            Counter(label: Name.eventsRejected, dimensions: [(Label.reason, $0.name)], factory: factory)
        }
    }

    // MARK: - Per-batch updates

    /// Adds the difference between two engine counter snapshots.
    func recordEngineDelta(from old: EngineStats, to new: EngineStats) {
        if new.read > old.read { eventsIn.increment(by: new.read - old.read) }
        if new.accepted > old.accepted { eventsAccepted.increment(by: new.accepted - old.accepted) }
        if new.duplicates > old.duplicates { duplicates.increment(by: new.duplicates - old.duplicates) }
        for index in rejected.indices where index < new.rejected.count && index < old.rejected.count {
            let delta = new.rejected[index] - old.rejected[index]
            if delta > 0 { rejected[index].increment(by: delta) }
        }
    }

    /// Users evicted since the last batch, the model's pending labels and its live quality.
    func recordState(_ engine: borrowing Engine) {
        let idle = engine.users.evictedIdle - reportedEvictions.idle
        let capacity = engine.users.evictedCapacity - reportedEvictions.capacity
        if idle > 0 { evictedIdle.increment(by: idle) }
        if capacity > 0 { evictedCapacity.increment(by: capacity) }
        reportedEvictions = (engine.users.evictedIdle, engine.users.evictedCapacity)
        let attempts = engine.funnels.evictedAttempts - reportedStateEvictions.attempts
        let carts = (engine.alerts?.carts.evictedCarts ?? 0) - reportedStateEvictions.carts
        if attempts > 0 { evictedAttempts.increment(by: attempts) }
        if carts > 0 { evictedCarts.increment(by: carts) }
        reportedStateEvictions = (engine.funnels.evictedAttempts, engine.alerts?.carts.evictedCarts ?? 0)
        guard let model = engine.model else { return }
        pendingLabels.record(model.pending.count)
        modelVersion.record(Int64(clamping: model.version))
        for (w, acc) in [model.quality.recent, model.quality.all].enumerated() {
            if let v = acc.auc { quality[w][0].record(v) }
            if let v = acc.logLoss { quality[w][1].record(v) }
            if let v = acc.meanScore { quality[w][2].record(v) }
            if let v = acc.positiveRate { quality[w][3].record(v) }
        }
    }

    /// Alerts published since the last call, by kind and state, and the funnel alerts firing now.
    func recordAlerts(_ counts: AlertCounts, firing: Int) {
        alertsFiring.record(firing)
        guard counts != reportedAlerts else { return }
        for kind in AlertKind.allCases {
            for state in AlertState.allCases {
                let delta = counts.count(kind, state) - reportedAlerts.count(kind, state)
                guard delta > 0 else { continue }
                let key = "\(kind.rawValue)|\(state.rawValue)"
                let counter = alertCounters[key]
                    ?? Counter(label: Name.alerts, dimensions: [(Label.kind, kind.rawValue), (Label.state, state.rawValue)],
                               factory: factory)
                alertCounters[key] = counter
                counter.increment(by: delta)
            }
        }
        reportedAlerts = counts
    }

    func recordOutputs(_ count: Int, topic: String) {
        guard count > 0 else { return }
        cached(&outputs, topic, Name.outputs).increment(by: count)
    }

    func recordOutputErrors(_ count: Int, topic: String) {
        guard count > 0 else { return }
        cached(&outputErrors, topic, Name.outputErrors).increment(by: count)
    }

    func recordOutputRetries(_ count: Int, topic: String) {
        guard count > 0 else { return }
        cached(&outputRetries, topic, Name.outputRetries).increment(by: count)
    }

    func recordLag(_ value: Int64, for partition: TopicPartition) {
        if let gauge = lag[partition] {
            gauge.record(value)
            return
        }
        let gauge = Gauge(
            label: Name.consumerLag,
            dimensions: [(Label.topic, partition.topic), (Label.partition, String(partition.partition))],
            factory: factory
        )
        lag[partition] = gauge
        gauge.record(value)
    }

    /// librdkafka's statistics for one client (`consumer` or `producer`).
    func recordStatistics(_ stats: KafkaStatistics, client: String) {
        statisticsGauge(Name.kafkaQueueMessages, client: client, broker: nil).record(stats.messageCount)
        statisticsGauge(Name.kafkaTxMessages, client: client, broker: nil).record(stats.txMessages)
        statisticsGauge(Name.kafkaRxMessages, client: client, broker: nil).record(stats.rxMessages)
        for broker in stats.brokers where broker.nodeID >= 0 {
            statisticsGauge(Name.kafkaBrokerRTT, client: client, broker: broker.name)
                .record(Double(broker.rttAverageMicroseconds) / 1_000_000)
        }
    }

    // MARK: - Lazily created labelled metrics

    private func cached(_ table: inout [String: Counter], _ topic: String, _ name: String) -> Counter {
        if let counter = table[topic] { return counter }
        let counter = Counter(label: name, dimensions: [(Label.topic, topic)], factory: factory)
        table[topic] = counter
        return counter
    }

    private func statisticsGauge(_ name: String, client: String, broker: String?) -> Gauge {
        let key = "\(name)|\(client)|\(broker ?? "")"
        if let gauge = statistics[key] { return gauge }
        var dimensions = [(Label.client, client)]
        if let broker { dimensions.append((Label.broker, broker)) }
        let gauge = Gauge(label: name, dimensions: dimensions, factory: factory)
        statistics[key] = gauge
        return gauge
    }
}
