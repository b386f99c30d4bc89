import FunnelKafka
import Logging

/// Creates the input and output topics at start when `kafka.create_topics` is on.
///
/// "Already exists" counts as success. A broker without CreateTopics (or one that does not answer
/// in time) is not fatal: producing and subscribing auto-create topics on most brokers, so the
/// daemon logs the problem and goes on; any other refusal (authorization, bad replication factor)
/// stops the start with the broker's reason.
enum TopicProvisioner {
    /// librdkafka/broker codes meaning "this broker cannot do CreateTopics" rather than "no".
    private static let unsupportedCodes: Set<Int32> = [
        35,  // UNSUPPORTED_VERSION
        -165,  // _UNSUPPORTED_FEATURE
        KafkaError.Code.timedOut,
        KafkaError.Code.messageTimedOut,
    ]

    static func ensureTopics(_ config: FunnelPulseConfig, logger: Logger) throws {
        guard config.kafka.createTopics else { return }
        let names = config.inputs.map(\.topic) + config.outputs.all
        var topics = names.map {
            KafkaAdmin.NewTopic(
                name: $0,
                partitions: Int32(config.kafka.topicPartitions),
                replicationFactor: Int32(config.kafka.replicationFactor))
        }
        if config.checkpoint.handover == "topic" {
            // The partition-state changelog: compaction keeps the newest state per partition.
            topics.append(KafkaAdmin.NewTopic(
                name: config.checkpoint.handoverTopic,
                partitions: Int32(config.kafka.topicPartitions),
                replicationFactor: Int32(config.kafka.replicationFactor),
                configs: ["cleanup.policy": "compact"]))
        }
        do {
            let admin = try KafkaAdmin(configuration: KafkaClientSettings.admin(config), logger: logger)
            try admin.createTopics(topics, timeoutMilliseconds: 10_000)
            logger.info("topics ready", metadata: ["topics": "\(topics.map(\.name))"])
        } catch {
            // Only KafkaError is thrown above, so `error` is typed; no pattern cast (SILGen pitfall).
            guard unsupportedCodes.contains(error.code) else { throw error }
            logger.warning(
                "could not create topics; relying on broker auto-creation",
                metadata: ["error": "\(error)", "topics": "\(names)"])
        }
    }
}
