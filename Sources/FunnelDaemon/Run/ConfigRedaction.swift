import FunnelKafka
import Logging

/// The configuration as logged at start: everything an operator needs to see, no secrets.
enum ConfigRedaction {
    /// librdkafka keys whose values are credentials (SASL passwords, JAAS configs, private keys).
    static func isSecret(_ key: String) -> Bool { KafkaSecrets.isSecret(key) }

    static func redacted(_ librdkafka: [String: String]) -> [String: String] {
        var result = librdkafka
        for key in librdkafka.keys where isSecret(key) { result[key] = KafkaSecrets.redacted }
        return result
    }

    /// The privacy section without its key.
    static func privacy(_ privacy: FunnelPulseConfig.Privacy) -> String {
        guard privacy.pseudonymizeUserIDs else { return "off" }
        return privacy.keyEnv.isEmpty
            ? "pseudonymize_user_ids (key: \(KafkaSecrets.redacted))" : "pseudonymize_user_ids (key from $\(privacy.keyEnv))"
    }

    static func metadata(_ config: FunnelPulseConfig) -> Logger.Metadata {
        let kafka = config.kafka
        let librdkafka = redacted(kafka.librdkafka).sorted { $0.key < $1.key }
        return [
            "inputs": .array(config.inputs.map { .string($0.mapping.isEmpty ? $0.topic : "\($0.topic) (\($0.mapping))") }),
            "outputs": .dictionary([
                "scores": .string(config.outputs.scores), "funnel": .string(config.outputs.funnel),
                "alerts": .string(config.outputs.alerts), "deadletter": .string(config.outputs.deadletter),
            ]),
            "kafka": .dictionary([
                "bootstrap_servers": .string(kafka.bootstrapServers),
                "group_id": .string(kafka.groupID),
                "create_topics": .stringConvertible(kafka.createTopics),
                "topic_partitions": .stringConvertible(kafka.topicPartitions),
                "replication_factor": .stringConvertible(kafka.replicationFactor),
                "poll_batch": .stringConvertible(kafka.pollBatch),
                "max_in_flight_outputs": .stringConvertible(kafka.maxInFlightOutputs),
                "delivery_retries": .stringConvertible(kafka.deliveryRetries),
                "delivery_retry_backoff_ms": .stringConvertible(kafka.deliveryRetryBackoffMs),
                "statistics_interval_ms": .stringConvertible(kafka.statisticsIntervalMs),
                "ready_max_lag": .stringConvertible(kafka.readyMaxLag),
                "librdkafka": .dictionary(Dictionary(uniqueKeysWithValues: librdkafka.map { ($0.key, .string($0.value)) })),
            ]),
            "http": .string(config.http.enabled ? "\(config.http.host):\(config.http.port)" : "disabled"),
            "log": .string("\(config.log.level)/\(config.log.format)"),
            "shutdown_grace_seconds": .stringConvertible(config.shutdownGraceSeconds),
            "allocator": .string(ProcessAllocator.description),
            "privacy": .string(privacy(config.privacy)),
            "funnels": .array(config.engine.funnels.map { .string($0.name) }),
            "model": .stringConvertible(config.engine.model.enabled),
            "alerts": .stringConvertible(config.engine.alerts.enabled),
            "checkpoint": .string(config.checkpoint.directory.isEmpty ? "disabled"
                : "\(config.checkpoint.directory) every \(config.checkpoint.intervalSeconds) s, keep \(config.checkpoint.keep)"),
        ]
    }
}
