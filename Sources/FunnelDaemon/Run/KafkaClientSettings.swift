/// The librdkafka properties of the daemon's consumer and producer.
///
/// Defaults first, then the `kafka.librdkafka` passthrough, then the keys the delivery guarantee
/// depends on (which the passthrough may not override; validation already rejects them).
enum KafkaClientSettings {
    static func consumer(_ config: FunnelPulseConfig) -> [String: String] {
        var settings: [String: String] = [
            // Eager assignor: cooperative-sticky is slow on some brokers and trips librdkafka 2.0.2.
            "partition.assignment.strategy": "range",
            "auto.offset.reset": "earliest",
            // Auto-commit only ever commits offsets the pipeline stored, i.e. fully acknowledged ones.
            "enable.auto.commit": "true",
            "auto.commit.interval.ms": "1000",
            // End-of-partition events mark caught-up partitions idle for the watermark.
            "enable.partition.eof": "true",
            // Don't let a quiet partition hold a fetch (and so latency) for the default 500 ms.
            "fetch.wait.max.ms": "10",
            // librdkafka stops fetching once its local queue holds queued.min.messages (default
            // 100,000) and then waits on a backoff before fetching again; with a backlog the loop
            // drained 100,000 messages quickly and idled the rest (~60% of the time). Memory stays
            // bounded by queued.max.messages.kbytes (64 MiB by default).
            "queued.min.messages": "1000000",
        ]
        merge(config, into: &settings)
        settings["group.id"] = config.kafka.groupID
        return settings
    }

    static func producer(_ config: FunnelPulseConfig) -> [String: String] {
        var settings: [String: String] = [
            "linger.ms": "5",
            "acks": "all",
        ]
        merge(config, into: &settings, skipping: consumerOnly)
        // Retries inside librdkafka must not reorder or duplicate: idempotence is not optional.
        settings["enable.idempotence"] = "true"
        return settings
    }

    static func admin(_ config: FunnelPulseConfig) -> [String: String] {
        var settings: [String: String] = [:]
        merge(config, into: &settings, skipping: consumerOnly)
        return settings
    }

    /// Consumer properties that librdkafka warns about (CONFWARN) when a producer is given them;
    /// the passthrough is one map for both clients, so they are left out of the producer's copy.
    static let consumerOnly: Set<String> = [
        "group.id", "group.instance.id", "partition.assignment.strategy", "session.timeout.ms",
        "heartbeat.interval.ms", "max.poll.interval.ms", "auto.offset.reset", "enable.auto.commit",
        "auto.commit.interval.ms", "enable.auto.offset.store", "enable.partition.eof", "fetch.wait.max.ms",
        "fetch.min.bytes", "fetch.max.bytes", "max.partition.fetch.bytes", "fetch.message.max.bytes",
        "queued.min.messages", "queued.max.messages.kbytes", "isolation.level", "check.crcs",
        "coordinator.query.interval.ms",
    ]

    private static func merge(_ config: FunnelPulseConfig, into settings: inout [String: String],
                              skipping skipped: Set<String> = []) {
        if config.kafka.statisticsIntervalMs > 0 {
            settings["statistics.interval.ms"] = String(config.kafka.statisticsIntervalMs)
        }
        for (key, value) in config.kafka.librdkafka where !skipped.contains(key) { settings[key] = value }
        settings["bootstrap.servers"] = config.kafka.bootstrapServers
    }
}
