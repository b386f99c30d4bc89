import Foundation
import Logging
import Synchronization
import Testing

@testable import FunnelKafka

/// Shared scaffolding: one mock cluster per test, unique topic/group names, bounded wait loops.
enum KafkaTestSupport {
    static func logger(_ label: String = "kafka-test") -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = .warning
        return logger
    }

    static func unique(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    static func producerConfig(_ cluster: KafkaMockCluster) -> [String: String] {
        [
            "bootstrap.servers": cluster.bootstrapServers,
            "linger.ms": "5",
            "reconnect.backoff.ms": "100",
            "reconnect.backoff.max.ms": "500",
        ]
    }

    static func consumerConfig(_ cluster: KafkaMockCluster, group: String) -> [String: String] {
        [
            "bootstrap.servers": cluster.bootstrapServers,
            "group.id": group,
            "session.timeout.ms": "6000",
            "heartbeat.interval.ms": "1000",
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "range",
            "enable.auto.commit": "false",
            "topic.metadata.refresh.interval.ms": "1000",
        ]
    }

    /// A one-broker mock cluster with a fresh topic of `partitions` partitions, and a producer on it.
    static func producerOnNewTopic(_ prefix: String, partitions: Int32) throws
        -> (cluster: KafkaMockCluster, topic: String, producer: KafkaProducer)
    {
        let cluster = try KafkaMockCluster(brokers: 1)
        let topic = unique(prefix)
        try cluster.createTopic(topic, partitions: partitions)
        let producer = try KafkaProducer(configuration: producerConfig(cluster), logger: logger())
        return (cluster, topic, producer)
    }

    /// A consumer in a fresh group, subscribed to `topic`, and what it polled (in batches of up to
    /// 100) until it held `count` messages or 40 s passed.
    static func consumeNewGroup(_ cluster: KafkaMockCluster, topic: String, count: Int) async throws
        -> (consumer: KafkaConsumer, messages: [ConsumedMessage])
    {
        let consumer = try KafkaConsumer(configuration: consumerConfig(cluster, group: unique("g")), logger: logger())
        try consumer.subscribe(topics: [topic])
        var consumed: [ConsumedMessage] = []
        try await waitUntil(seconds: 40) {
            try consumer.pollBatch(maxMessages: 100, timeoutMilliseconds: 100) { consumed.append(ConsumedMessage($0)) }
            return consumed.count >= count
        }
        return (consumer, consumed)
    }

    /// Repeats `step` until it returns true or `seconds` pass; returns whether it succeeded.
    ///
    /// Between steps the task sleeps, giving its cooperative thread back: the tests run on the
    /// same small pool as the daemon's pipeline tests, and a loop that held its thread for the
    /// whole wait (up to 40 s) would stall the pipelines beside it (two threads on this machine).
    /// A step's own blocking poll should stay short (≤ 100 ms).
    @discardableResult
    static func waitUntil(seconds: Double, _ step: () throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try step() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// Sends `values` (nil = tombstone) with the given keys and waits for every delivery report.
    /// Returns the failed reports.
    static func produceAndWait(
        _ producer: KafkaProducer,
        topic: String,
        messages: [(key: String?, value: [UInt8]?, headers: [KafkaHeader])],
        seconds: Double = 20
    ) async throws -> [(UInt64, KafkaError)] {
        for (index, message) in messages.enumerated() {
            try withOptionalBytes(message.key.map { Array($0.utf8) }) { key in
                try withOptionalBytes(message.value) { value in
                    try producer.send(
                        topic: topic,
                        key: key,
                        value: value,
                        headers: message.headers,
                        token: UInt64(index)
                    )
                }
            }
        }
        var delivered = Set<UInt64>()
        var failures: [(UInt64, KafkaError)] = []
        await waitUntil(seconds: seconds) {
            producer.poll(timeoutMilliseconds: 50)
            producer.drainDeliveryReports { token, error in
                delivered.insert(token)
                if let error { failures.append((token, error)) }
            }
            return delivered.count == messages.count
        }
        #expect(delivered.count == messages.count, "delivery reports missing")
        return failures
    }

    static func withOptionalBytes<T>(
        _ bytes: [UInt8]?,
        _ body: (UnsafeRawBufferPointer?) throws -> T
    ) rethrows -> T {
        guard let bytes else { return try body(nil) }
        return try bytes.withUnsafeBytes { try body($0) }
    }
}

/// A consumed message copied out of the view.
struct ConsumedMessage: Hashable {
    var topicPartition: TopicPartition
    var offset: Int64
    var key: String?
    var value: [UInt8]?
    var headers: [KafkaHeader]
    var hasTimestamp: Bool

    init(_ view: KafkaMessageView) {
        topicPartition = view.topicPartition
        offset = view.offset
        key = view.key.map { String(decoding: $0, as: UTF8.self) }
        value = view.payload.map { Array($0) }
        headers = view.headers
        hasTimestamp = view.timestampMilliseconds != nil
    }
}

/// Mutable box for `@Sendable` hooks (producer statistics) in tests.
final class Collected<T: Sendable>: Sendable {
    let values = Mutex<[T]>([])
    func append(_ value: T) { values.withLock { $0.append(value) } }
    var snapshot: [T] { values.withLock { $0 } }
}
