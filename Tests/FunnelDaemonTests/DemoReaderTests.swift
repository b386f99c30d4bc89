import Foundation
import FunnelKafka
import Logging
import Synchronization
import Testing

@testable import FunnelDaemon

/// The demo's view reads the output topics of the embedded mock cluster, which keeps only about
/// 5 MiB per partition and drops the oldest records as new ones arrive.
@Suite("Demo view on a trimmed log", .serialized)
struct DemoReaderTests {
    /// A score record of the shape the view decodes, padded to about 400 bytes like a real one.
    static let scoreRecord = Array(
        (#"{"schema":"funnelpulse.score.v1","score":0.25,"model_version":3,"pad":""#
            + String(repeating: "x", count: 330) + #""}"#).utf8)

    /// A fresh mock cluster with one single-partition topic, and a producer for it.
    static func clusterWithTopic() throws -> (KafkaMockCluster, String, KafkaProducer, Logger) {
        var logger = Logger(label: "demo-reader-test")
        logger.logLevel = .error
        let cluster = try KafkaMockCluster()
        let topic = "scores-\(UUID().uuidString.prefix(8).lowercased())"
        try cluster.createTopic(topic, partitions: 1)
        let producer = try KafkaProducer(
            configuration: ["bootstrap.servers": cluster.bootstrapServers, "linger.ms": "5"], logger: logger)
        return (cluster, topic, producer, logger)
    }

    /// A consumer with the view's settings reads, then falls behind (its partition paused) while
    /// outputs keep coming at about 25,000 a second, until the cluster has dropped what it had
    /// not read. Resumed, it must read again: sent back to the log start it last heard of, which
    /// the cluster moves on with every batch produced, it read nothing while outputs kept coming.
    @Test("the view keeps reading after the cluster has dropped outputs it had not read",
          .timeLimit(.minutes(2)))
    func viewSkipsPastDroppedOutputs() async throws {
        let (cluster, topic, producer, logger) = try Self.clusterWithTopic()
        let produced = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let feeding = Task.detached {
            var token: UInt64 = 0
            while !stop.load(ordering: .relaxed) {
                for _ in 0..<100 {
                    token += 1
                    try Self.scoreRecord.withUnsafeBytes {
                        try producer.send(topic: topic, key: nil, value: $0, token: token)
                    }
                }
                _ = producer.poll(timeoutMilliseconds: 0)
                produced.add(100, ordering: .relaxed)
                try await Task.sleep(for: .milliseconds(4))
            }
            try producer.flush(timeoutMilliseconds: 5000)
        }
        defer { stop.store(true, ordering: .relaxed) }

        let consumer = try KafkaConsumer(
            configuration: DemoReader.consumerSettings(bootstrapServers: cluster.bootstrapServers), logger: logger)
        consumer.startOffset = DemoReader.fromFirstRecordOnce()
        try consumer.subscribe(topics: [topic])
        func read(atLeast count: Int, seconds: Double) throws -> Int {
            var total = 0
            let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
            while total < count && ContinuousClock.now < deadline {
                total += try consumer.pollBatch(maxMessages: 2000, timeoutMilliseconds: 100) { _ in }
            }
            return total
        }
        let first = try read(atLeast: 1000, seconds: 30)
        #expect(first >= 1000)
        let partition = TopicPartition(topic: topic, partition: 0)
        try consumer.pause([partition])
        // Drain what was fetched before the pause, then let 40,000 records (about 16 MB, three
        // times what the cluster keeps) go by.
        _ = try read(atLeast: .max, seconds: 1)
        let mark = produced.load(ordering: .relaxed)
        while produced.load(ordering: .relaxed) < mark + 40_000 { try await Task.sleep(for: .milliseconds(50)) }
        try consumer.resume([partition])
        let after = try read(atLeast: 5000, seconds: 20)
        stop.store(true, ordering: .relaxed)
        try await feeding.value
        try consumer.close()
        #expect(after >= 5000, "read \(after) records after falling behind")
    }

    /// Outputs published before the view joins (the pipeline starts first) are read, from the
    /// first record: "latest" applies only to a position that has fallen out of the log.
    @Test("the view reads outputs published before it joined", .timeLimit(.minutes(1)))
    func viewStartsFromTheFirstRecord() async throws {
        let (cluster, topic, producer, logger) = try Self.clusterWithTopic()
        for token in 1...100 {
            try Self.scoreRecord.withUnsafeBytes {
                try producer.send(topic: topic, key: nil, value: $0, token: UInt64(token))
            }
        }
        try producer.flush(timeoutMilliseconds: 5000)
        let consumer = try KafkaConsumer(
            configuration: DemoReader.consumerSettings(bootstrapServers: cluster.bootstrapServers), logger: logger)
        consumer.startOffset = DemoReader.fromFirstRecordOnce()
        try consumer.subscribe(topics: [topic])
        var offsets: [Int64] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while offsets.count < 100 && ContinuousClock.now < deadline {
            _ = try consumer.pollBatch(maxMessages: 200, timeoutMilliseconds: 100) { offsets.append($0.offset) }
        }
        try consumer.close()
        #expect(offsets == Array(0..<100))
    }
}

/// The demo's feeder must not produce into the trimmed log before the pipeline has its input:
/// the consumer group takes seconds to form, and at high rates the cluster would drop the first
/// events before anyone read them.
@Suite("Demo feeder start")
struct DemoFeederStartTests {
    @Test("the feeder waits for the pipeline's input partition, then feeds", .timeLimit(.minutes(1)))
    func feederWaitsForTheConsumer() async throws {
        let (cluster, topic, producer, logger) = try DemoReaderTests.clusterWithTopic()
        _ = producer
        let board = DemoBoard()
        let ready = Atomic<Bool>(false)
        let feeder = try DemoFeeder(
            bootstrapServers: cluster.bootstrapServers, topic: topic, eventsPerSecond: 5000,
            simulator: DemoOptions().simulatorConfig(nowMilliseconds: 1_700_000_000_000), board: board, logger: logger,
            isConsumerReady: { ready.load(ordering: .relaxed) })
        let task = Task { try await feeder.run() }
        try await Task.sleep(for: .milliseconds(600))
        #expect(board.stats.produced == 0)
        ready.store(true, ordering: .relaxed)
        let deadline = ContinuousClock.now + .seconds(20)
        while board.stats.produced == 0 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        task.cancel()
        try await task.value
        #expect(board.stats.produced > 0)
        withExtendedLifetime(cluster) {}
    }
}
