import FunnelCore

/// The daemon's whole configuration (`deploy/funnelpulse.yaml` documents every key).
///
/// Every field has a default, so an empty file is a valid configuration for `demo`.
public struct FunnelPulseConfig: Codable, Sendable, Equatable {
    public struct Input: Codable, Sendable, Equatable {
        public var topic: String = "funnelpulse.clicks"
        /// Path of a mapping YAML; empty = the built-in canonical JSON mapping.
        public var mapping: String = ""

        public init(topic: String = "funnelpulse.clicks", mapping: String = "") {
            self.topic = topic
            self.mapping = mapping
        }

        enum CodingKeys: String, CodingKey { case topic, mapping }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            topic = try c.decodeIfPresent(String.self, forKey: .topic) ?? "funnelpulse.clicks"
            mapping = try c.decodeIfPresent(String.self, forKey: .mapping) ?? ""
        }
    }

    public struct Outputs: Codable, Sendable, Equatable {
        public var scores = "funnelpulse.scores"
        public var funnel = "funnelpulse.funnel"
        public var alerts = "funnelpulse.alerts"
        public var deadletter = "funnelpulse.deadletter"

        public init() {}
        enum CodingKeys: String, CodingKey { case scores, funnel, alerts, deadletter }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Outputs()
            scores = try c.decodeIfPresent(String.self, forKey: .scores) ?? d.scores
            funnel = try c.decodeIfPresent(String.self, forKey: .funnel) ?? d.funnel
            alerts = try c.decodeIfPresent(String.self, forKey: .alerts) ?? d.alerts
            deadletter = try c.decodeIfPresent(String.self, forKey: .deadletter) ?? d.deadletter
        }
        public var all: [String] { [scores, funnel, alerts, deadletter] }
    }

    public struct Kafka: Codable, Sendable, Equatable {
        public var bootstrapServers = "127.0.0.1:9092"
        public var groupID = "funnelpulse"
        /// Create missing input/output topics at start (AdminClient).
        public var createTopics = true
        public var topicPartitions = 4
        public var replicationFactor = 1
        /// Messages handed to the engine per poll.
        public var pollBatch = 2000
        /// Output records not yet acknowledged by the broker before input fetching pauses.
        public var maxInFlightOutputs = 200_000
        /// Re-sends of an output record whose delivery failed before the daemon stops (no commit past it).
        public var deliveryRetries = 5
        /// First retry delay; doubles per attempt.
        public var deliveryRetryBackoffMs = 500
        /// librdkafka statistics period feeding the `funnelpulse_kafka_*` gauges; 0 turns them off.
        public var statisticsIntervalMs = 10_000
        /// `/readyz` fails while the summed consumer lag exceeds this many messages.
        public var readyMaxLag = 10_000
        /// Passed to librdkafka as-is (TLS, SASL, tuning). Secrets here are redacted in logs.
        public var librdkafka: [String: String] = [:]

        public init() {}
        enum CodingKeys: String, CodingKey {
            case bootstrapServers = "bootstrap_servers"
            case groupID = "group_id"
            case createTopics = "create_topics"
            case topicPartitions = "topic_partitions"
            case replicationFactor = "replication_factor"
            case pollBatch = "poll_batch"
            case maxInFlightOutputs = "max_in_flight_outputs"
            case deliveryRetries = "delivery_retries"
            case deliveryRetryBackoffMs = "delivery_retry_backoff_ms"
            case statisticsIntervalMs = "statistics_interval_ms"
            case readyMaxLag = "ready_max_lag"
            case librdkafka
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Kafka()
            bootstrapServers = try c.decodeIfPresent(String.self, forKey: .bootstrapServers) ?? d.bootstrapServers
            groupID = try c.decodeIfPresent(String.self, forKey: .groupID) ?? d.groupID
            createTopics = try c.decodeIfPresent(Bool.self, forKey: .createTopics) ?? d.createTopics
            topicPartitions = try c.decodeIfPresent(Int.self, forKey: .topicPartitions) ?? d.topicPartitions
            replicationFactor = try c.decodeIfPresent(Int.self, forKey: .replicationFactor) ?? d.replicationFactor
            pollBatch = try c.decodeIfPresent(Int.self, forKey: .pollBatch) ?? d.pollBatch
            maxInFlightOutputs = try c.decodeIfPresent(Int.self, forKey: .maxInFlightOutputs) ?? d.maxInFlightOutputs
            deliveryRetries = try c.decodeIfPresent(Int.self, forKey: .deliveryRetries) ?? d.deliveryRetries
            deliveryRetryBackoffMs = try c.decodeIfPresent(Int.self, forKey: .deliveryRetryBackoffMs)
                ?? d.deliveryRetryBackoffMs
            statisticsIntervalMs = try c.decodeIfPresent(Int.self, forKey: .statisticsIntervalMs) ?? d.statisticsIntervalMs
            readyMaxLag = try c.decodeIfPresent(Int.self, forKey: .readyMaxLag) ?? d.readyMaxLag
            librdkafka = try c.decodeIfPresent([String: String].self, forKey: .librdkafka) ?? [:]
        }
    }

    public struct HTTP: Codable, Sendable, Equatable {
        public var host = "127.0.0.1"
        public var port = 9464
        public var enabled = true
        public init() {}
        enum CodingKeys: String, CodingKey { case host, port, enabled }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            host = try c.decodeIfPresent(String.self, forKey: .host) ?? "127.0.0.1"
            port = try c.decodeIfPresent(Int.self, forKey: .port) ?? 9464
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        }
    }

    public struct Log: Codable, Sendable, Equatable {
        public var level = "info"
        public var format = "json"
        public init() {}
        enum CodingKeys: String, CodingKey { case level, format }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            level = try c.decodeIfPresent(String.self, forKey: .level) ?? "info"
            format = try c.decodeIfPresent(String.self, forKey: .format) ?? "json"
        }
    }

    public var engine = EngineConfig()
    public var inputs: [Input] = [Input()]
    public var outputs = Outputs()
    public var kafka = Kafka()
    /// Engine checkpoints of `run` (docs/checkpoints.md).
    public struct Checkpoint: Codable, Sendable, Equatable {
        /// Where checkpoints are written; empty = no checkpoints (state starts empty on restart).
        public var directory = ""
        /// Wall-clock time between checkpoints; the duplicates a crash causes are bounded by it.
        public var intervalSeconds: Double = 30
        /// Checkpoints kept (the newest valid one is restored; older ones are the fallback).
        public var keep = 3
        /// Where a revoked partition's users go for its next owner (docs/checkpoints.md):
        /// `none`, `directory` (`<directory>/partitions/`, processes of one host) or `topic`
        /// (a compacted Kafka topic, processes on several hosts).
        public var handover = "none"
        /// The directory of `handover: directory`, shared by the processes of one host; empty:
        /// `<directory>/partitions`. Processes sharing it need their own `directory` (whole-engine
        /// checkpoints are per process).
        public var handoverDirectory = ""
        /// The compacted topic of `handover: topic`.
        public var handoverTopic = ""
        /// Largest record written to the handover topic; bigger states are split into chunks of
        /// this size (keep it under the broker's `message.max.bytes`, 1 MiB by default).
        public var handoverChunkBytes = 512 * 1024
        public init() {}
        enum CodingKeys: String, CodingKey {
            case directory, keep, handover
            case intervalSeconds = "interval_seconds"
            case handoverTopic = "handover_topic"
            case handoverDirectory = "handover_directory"
            case handoverChunkBytes = "handover_chunk_bytes"
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Checkpoint()
            directory = try c.decodeIfPresent(String.self, forKey: .directory) ?? d.directory
            intervalSeconds = try c.decodeIfPresent(Double.self, forKey: .intervalSeconds) ?? d.intervalSeconds
            keep = try c.decodeIfPresent(Int.self, forKey: .keep) ?? d.keep
            handover = try c.decodeIfPresent(String.self, forKey: .handover) ?? d.handover
            handoverTopic = try c.decodeIfPresent(String.self, forKey: .handoverTopic) ?? d.handoverTopic
            handoverDirectory = try c.decodeIfPresent(String.self, forKey: .handoverDirectory) ?? d.handoverDirectory
            handoverChunkBytes = try c.decodeIfPresent(Int.self, forKey: .handoverChunkBytes) ?? d.handoverChunkBytes
        }

        /// The handover kinds `checkpoint.handover` accepts.
        public static let handoverKinds = ["none", "directory", "topic"]

        /// Where `handover: directory` keeps the partition states.
        public var partitionStateDirectory: String {
            if !handoverDirectory.isEmpty { return handoverDirectory }
            if directory.isEmpty { return "" }
            return directory.hasSuffix("/") ? directory + "partitions" : directory + "/partitions"
        }
    }

    public var http = HTTP()
    public var log = Log()
    public var checkpoint = Checkpoint()
    public var shutdownGraceSeconds: Double = 10
    /// Keyed pseudonyms for user ids in outputs (``Privacy``, `FunnelPulseConfig+Privacy.swift`).
    public var privacy = Privacy()

    public init() {}

    enum CodingKeys: String, CodingKey {
        case engine, inputs, outputs, kafka, http, log, checkpoint, privacy
        case shutdownGraceSeconds = "shutdown_grace_seconds"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = FunnelPulseConfig()
        engine = try c.decodeIfPresent(EngineConfig.self, forKey: .engine) ?? d.engine
        inputs = try c.decodeIfPresent([Input].self, forKey: .inputs) ?? d.inputs
        outputs = try c.decodeIfPresent(Outputs.self, forKey: .outputs) ?? d.outputs
        kafka = try c.decodeIfPresent(Kafka.self, forKey: .kafka) ?? d.kafka
        http = try c.decodeIfPresent(HTTP.self, forKey: .http) ?? d.http
        log = try c.decodeIfPresent(Log.self, forKey: .log) ?? d.log
        checkpoint = try c.decodeIfPresent(Checkpoint.self, forKey: .checkpoint) ?? d.checkpoint
        shutdownGraceSeconds = try c.decodeIfPresent(Double.self, forKey: .shutdownGraceSeconds) ?? d.shutdownGraceSeconds
        privacy = try c.decodeIfPresent(Privacy.self, forKey: .privacy) ?? d.privacy
    }

    /// Cross-field checks; errors name the dotted key.
    public func validate() throws(ConfigError) {
        try engine.validate(path: "engine")
        guard checkpoint.intervalSeconds >= 1, checkpoint.intervalSeconds <= 86_400 else {
            throw ConfigError(key: "checkpoint.interval_seconds", message: "must be 1 to 86400")
        }
        guard checkpoint.keep >= 1, checkpoint.keep <= 100 else {
            throw ConfigError(key: "checkpoint.keep", message: "must be 1 to 100")
        }
        guard Checkpoint.handoverKinds.contains(checkpoint.handover) else {
            throw ConfigError(key: "checkpoint.handover",
                              message: "'\(checkpoint.handover)' is not one of \(Checkpoint.handoverKinds.joined(separator: ", "))")
        }
        if checkpoint.handover == "directory", checkpoint.partitionStateDirectory.isEmpty {
            throw ConfigError(key: "checkpoint.handover",
                              message: "'directory' needs checkpoint.handover_directory (or checkpoint.directory: states then go to <directory>/partitions/)")
        }
        if checkpoint.handover == "topic" {
            guard !checkpoint.handoverTopic.isEmpty else {
                throw ConfigError(key: "checkpoint.handover_topic", message: "must be set when checkpoint.handover is 'topic'")
            }
            guard Self.isValidTopic(checkpoint.handoverTopic) else {
                throw ConfigError(key: "checkpoint.handover_topic",
                                  message: "'\(checkpoint.handoverTopic)' is not a valid topic name")
            }
            guard !inputs.contains(where: { $0.topic == checkpoint.handoverTopic }),
                !outputs.all.contains(checkpoint.handoverTopic)
            else {
                throw ConfigError(key: "checkpoint.handover_topic",
                                  message: "'\(checkpoint.handoverTopic)' is also an input or output topic")
            }
        }
        guard (16 * 1024...64 * 1024 * 1024).contains(checkpoint.handoverChunkBytes) else {
            throw ConfigError(key: "checkpoint.handover_chunk_bytes", message: "must be 16384 to 67108864")
        }
        guard !inputs.isEmpty else { throw ConfigError(key: "inputs", message: "needs at least one input topic") }
        var topics = Set<String>()
        for (i, input) in inputs.enumerated() {
            guard Self.isValidTopic(input.topic) else {
                throw ConfigError(key: "inputs[\(i)].topic", message: "'\(input.topic)' is not a valid topic name")
            }
            guard topics.insert(input.topic).inserted else {
                throw ConfigError(key: "inputs[\(i)].topic", message: "topic '\(input.topic)' is listed twice")
            }
        }
        for (key, topic) in [("scores", outputs.scores), ("funnel", outputs.funnel), ("alerts", outputs.alerts),
                             ("deadletter", outputs.deadletter)] {
            guard Self.isValidTopic(topic) else {
                throw ConfigError(key: "outputs.\(key)", message: "'\(topic)' is not a valid topic name")
            }
            guard !topics.contains(topic) else {
                throw ConfigError(key: "outputs.\(key)", message: "'\(topic)' is also an input topic")
            }
        }
        guard !kafka.bootstrapServers.isEmpty else {
            throw ConfigError(key: "kafka.bootstrap_servers", message: "must not be empty")
        }
        guard !kafka.groupID.isEmpty else { throw ConfigError(key: "kafka.group_id", message: "must not be empty") }
        guard (1...10_000).contains(kafka.topicPartitions) else {
            throw ConfigError(key: "kafka.topic_partitions", message: "must be 1 to 10000")
        }
        guard (1...10).contains(kafka.replicationFactor) else {
            throw ConfigError(key: "kafka.replication_factor", message: "must be 1 to 10")
        }
        guard (1...100_000).contains(kafka.pollBatch) else {
            throw ConfigError(key: "kafka.poll_batch", message: "must be 1 to 100000")
        }
        guard kafka.maxInFlightOutputs >= 1 else {
            throw ConfigError(key: "kafka.max_in_flight_outputs", message: "must be positive")
        }
        guard (0...100).contains(kafka.deliveryRetries) else {
            throw ConfigError(key: "kafka.delivery_retries", message: "must be 0 to 100")
        }
        guard (1...600_000).contains(kafka.deliveryRetryBackoffMs) else {
            throw ConfigError(key: "kafka.delivery_retry_backoff_ms", message: "must be 1 to 600000")
        }
        guard kafka.statisticsIntervalMs == 0 || (100...3_600_000).contains(kafka.statisticsIntervalMs) else {
            throw ConfigError(key: "kafka.statistics_interval_ms", message: "must be 0 (off) or 100 to 3600000")
        }
        guard kafka.readyMaxLag >= 0 else {
            throw ConfigError(key: "kafka.ready_max_lag", message: "must not be negative")
        }
        for key in kafka.librdkafka.keys where Self.managedKafkaKeys.contains(key) {
            throw ConfigError(key: "kafka.librdkafka.\(key)",
                              message: "is managed by FunnelPulse (use the kafka section's own key)")
        }
        guard (0...65_535).contains(http.port) else { throw ConfigError(key: "http.port", message: "must be 0 to 65535") }
        guard !http.host.isEmpty else { throw ConfigError(key: "http.host", message: "must not be empty") }
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(log.level) else {
            throw ConfigError(key: "log.level", message: "must be one of trace, debug, info, notice, warning, error, critical")
        }
        guard ["json", "text"].contains(log.format) else {
            throw ConfigError(key: "log.format", message: "must be json or text")
        }
        guard shutdownGraceSeconds > 0, shutdownGraceSeconds <= 600 else {
            throw ConfigError(key: "shutdown_grace_seconds", message: "must be between 0 and 600")
        }
        try privacy.validate()
    }

    /// librdkafka properties the daemon sets itself (changing them would break delivery guarantees).
    public static let managedKafkaKeys: Set<String> = [
        "bootstrap.servers", "group.id", "enable.auto.offset.store", "enable.idempotence",
    ]

    static func isValidTopic(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 249 && name != "." && name != ".."
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") }
    }
}
