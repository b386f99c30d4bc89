import Foundation
import FunnelCore
import FunnelKafka
import Logging
import Synchronization
import Testing

import FunnelDaemon

/// Scaffolding for the `run` pipeline tests: event fixtures, the engine's own answer for them,
/// producing inputs, collecting outputs, reading committed offsets.
public enum RunSupport {
    public static func logger() -> Logger {
        var logger = Logger(label: "run-test")
        logger.logLevel = .warning
        return logger
    }

    public static func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())" }

    /// Canonical JSON events: users cycle, types walk the default funnel, 7 s apart (several
    /// funnel windows close along the way). Purchases are the only accepted events without a score.
    public static func events(_ count: Int, users: Int = 20, firstID: Int = 0) -> [String] {
        let types = ["page", "view", "cart", "checkout", "purchase"]
        return (firstID..<(firstID + count)).map { i in
            let ts = 1_700_000_000_000 + Int64(i) * 7_000
            return #"{"event_id":"e\#(i)","ts":\#(ts),"user_id":"u\#(i % users)","type":"\#(types[(i / users) % 5])","item_id":"i\#(i % 7)"}"#
        }
    }

    public static func engineConfig() -> EngineConfig {
        var config = EngineConfig()
        config.dedupeCapacity = 10_000
        return config
    }

    /// The daemon configuration for one test: unique topics and group, test-friendly timings.
    public static func config(bootstrap: String, partitions: Int = 1, createTopics: Bool = false) -> FunnelPulseConfig {
        var config = FunnelPulseConfig()
        config.engine = engineConfig()
        config.inputs = [.init(topic: unique("in"))]
        config.outputs.scores = unique("scores")
        config.outputs.funnel = unique("funnel")
        config.outputs.alerts = unique("alerts")
        config.outputs.deadletter = unique("dlq")
        config.kafka.bootstrapServers = bootstrap
        config.kafka.groupID = unique("g")
        config.kafka.createTopics = createTopics
        config.kafka.topicPartitions = partitions
        config.kafka.pollBatch = 100
        config.kafka.statisticsIntervalMs = 0
        config.kafka.readyMaxLag = 100
        config.kafka.librdkafka = [
            "session.timeout.ms": "6000",
            "heartbeat.interval.ms": "1000",
            "partition.assignment.strategy": "range",
            "auto.offset.reset": "earliest",
            "topic.metadata.refresh.interval.ms": "1000",
        ]
        config.http.enabled = false
        config.shutdownGraceSeconds = 10
        return config
    }

    /// What the engine alone makes of `lines` (no `finish`: a daemon never ends its stream).
    public struct Expected: Sendable {
        public var deadLetters = 0
        public var snapshots: [String] = []
        public var scoredEventIDs: [String] = []
        public var purchases = 0
        /// Alert records (JSON) and their Kafka keys, in emission order.
        public var alerts: [String] = []
        public var alertKeys: [String] = []
    }

    private struct CollectingSink: EngineSink {
        var expected = Expected()
        mutating func deadLetter(_ failure: DecodeFailure, record: UnsafeRawBufferPointer, position: SourcePosition) {
            expected.deadLetters += 1
        }
        var observesAccepted: Bool { true }
        mutating func accepted(_ event: Event, context: EventContext, engine: borrowing Engine,
                               record: UnsafeRawBufferPointer, position: SourcePosition) {
            if event.type == .purchase { expected.purchases += 1 }
        }
        mutating func snapshot(_ snapshot: FunnelSnapshot) {
            var buffer = JSONBuffer()
            OutputRecords.encode(snapshot, into: &buffer)
            expected.snapshots.append(String(decoding: buffer.bytes, as: UTF8.self))
        }
        mutating func score(_ score: ModelScore, event: Event, record: UnsafeRawBufferPointer, position: SourcePosition) {
            expected.scoredEventIDs.append(TextField.string(event.eventID, in: record))
        }
        mutating func alert(_ alert: Alert) {
            var buffer = JSONBuffer()
            AlertRecord.encode(alert, into: &buffer)
            expected.alerts.append(String(decoding: buffer.bytes, as: UTF8.self))
            expected.alertKeys.append(AlertRecord.key(alert))
        }
    }

    /// `nil` lines are tombstones.
    public static func expected(_ lines: [String?], config: EngineConfig) throws -> Expected {
        var engine = try Engine(config: config)
        var sink = CollectingSink()
        try feed(lines, into: &engine, sink: &sink)
        return sink.expected
    }

    /// Feeds canonical JSON lines (nil: a tombstone) to `engine` as partition 0 from `firstOffset`.
    public static func feed(_ lines: [String?], into engine: inout Engine, firstOffset: Int = 0) throws {
        var sink = CollectingSink()
        try feed(lines, into: &engine, firstOffset: firstOffset, sink: &sink)
    }

    private static func feed(_ lines: [String?], into engine: inout Engine, firstOffset: Int = 0,
                             sink: inout CollectingSink) throws {
        var decoder = RecordDecoder(mapping: try CompiledMapping(.canonicalJSON))
        for (index, line) in lines.enumerated() {
            let position = SourcePosition(source: 0, offset: Int64(firstOffset + index))
            guard let line else {
                engine.countRead()
                engine.reject(DecodeFailure(.tombstone, "tombstone"), record: UnsafeRawBufferPointer(start: nil, count: 0),
                              position: position, sink: &sink)
                continue
            }
            var bytes = Array(line.utf8)
            bytes.withUnsafeBytes { engine.process($0, decoder: &decoder, at: position, sink: &sink) }
            bytes.removeAll()
        }
    }

    // MARK: - Kafka helpers

    /// `settings` are extra librdkafka properties (e.g. TLS: ``securitySettings(_:)``).
    public static func produce(_ lines: [String?], topic: String, bootstrap: String, keyed: Bool = false,
                               settings: [String: String] = [:]) throws {
        let producer = try KafkaProducer(
            configuration: ["bootstrap.servers": bootstrap, "linger.ms": "5"].merging(settings) { $1 },
            logger: logger())
        for (index, line) in lines.enumerated() {
            let key = keyed ? Array("k\(index % 13)".utf8) : nil
            try withBytes(key) { key in
                try withBytes(line.map { Array($0.utf8) }) { value in
                    try producer.send(topic: topic, key: key, value: value, token: UInt64(index))
                }
            }
        }
        try producer.flush(timeoutMilliseconds: 30_000)
        var failures = 0
        producer.drainDeliveryReports { _, error in if error != nil { failures += 1 } }
        #expect(failures == 0)
    }

    public static func withBytes<T>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) throws -> T) rethrows -> T {
        guard let bytes else { return try body(nil) }
        return try bytes.withUnsafeBytes { try body($0) }
    }

    public struct Output: Sendable {
        public var topic: String
        public var key: String?
        public var value: String
        public var headers: [String: String]
    }

    /// The TLS/SASL part of the daemon's librdkafka passthrough, for the test's own clients.
    public static func securitySettings(_ config: FunnelPulseConfig) -> [String: String] {
        config.kafka.librdkafka.filter { $0.key == "security.protocol" || $0.key.hasPrefix("ssl.") || $0.key.hasPrefix("sasl.") }
    }

    /// Reads the output topics from the beginning until `done` says so or time runs out.
    ///
    /// The reading blocks, so it runs on a thread of its own: a test that held one of the few
    /// cooperative threads (two on a two-core machine) for many seconds would starve the pipelines
    /// of the tests running next to it, which then produce nothing until the read gives up.
    public static func collect(_ config: FunnelPulseConfig, seconds: Double = 40,
                               until done: @escaping @Sendable ([Output]) -> Bool) async throws -> [Output] {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try readOutputs(config, seconds: seconds, until: done) })
            }
            thread.start()
        }
    }

    private static func readOutputs(_ config: FunnelPulseConfig, seconds: Double,
                                    until done: ([Output]) -> Bool) throws -> [Output] {
        let consumer = try KafkaConsumer(
            configuration: [
                "bootstrap.servers": config.kafka.bootstrapServers, "group.id": unique("reader"),
                "auto.offset.reset": "earliest", "enable.auto.commit": "false",
                "session.timeout.ms": "6000", "heartbeat.interval.ms": "1000",
                "partition.assignment.strategy": "range", "topic.metadata.refresh.interval.ms": "1000",
            ].merging(securitySettings(config)) { $1 }, logger: logger())
        try consumer.subscribe(topics: [config.outputs.scores, config.outputs.funnel, config.outputs.deadletter,
                                        config.outputs.alerts])
        var outputs: [Output] = []
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline, !done(outputs) {
            try consumer.pollBatch(maxMessages: 1000, timeoutMilliseconds: 100) { message in
                var headers: [String: String] = [:]
                for header in message.headers { headers[header.name] = String(decoding: header.value, as: UTF8.self) }
                outputs.append(Output(
                    topic: message.topic, key: message.key.map { String(decoding: $0, as: UTF8.self) },
                    value: message.payload.map { String(decoding: $0, as: UTF8.self) } ?? "", headers: headers))
            }
        }
        try consumer.close()
        return outputs
    }

    /// The group's committed offsets for partitions 0..<partitions of `topic`.
    public static func committed(_ config: FunnelPulseConfig, partitions: Int = 1) throws -> [Int32: Int64?] {
        let consumer = try KafkaConsumer(
            configuration: ["bootstrap.servers": config.kafka.bootstrapServers, "group.id": config.kafka.groupID,
                            "enable.auto.commit": "false"].merging(securitySettings(config)) { $1 },
            logger: logger())
        let list = (0..<partitions).map { TopicPartition(topic: config.inputs[0].topic, partition: Int32($0)) }
        let result = try consumer.committed(list, timeoutMilliseconds: 5000)
        return Dictionary(uniqueKeysWithValues: result.map { ($0.key.partition, $0.value) })
    }

    /// Creates the input topic and every output topic of `config` on the mock cluster, one partition each.
    public static func createTopics(_ config: FunnelPulseConfig, on cluster: KafkaMockCluster) throws {
        for topic in [config.inputs[0].topic] + config.outputs.all { try cluster.createTopic(topic, partitions: 1) }
    }

    /// `metrics`: where its metrics go, for a test that reads them (a private registry otherwise).
    public static func makePipeline(_ config: FunnelPulseConfig, metrics: MetricsSetup = MetricsSetup()) throws -> Pipeline {
        try Pipeline(config: config, mappings: [try CompiledMapping(.canonicalJSON)], logger: logger(),
                     metrics: PipelineMetrics(factory: metrics.factory))
    }

    /// Polls `condition` every 50 ms for up to `seconds`.
    public static func eventually(seconds: Double, _ condition: () throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try condition()
    }
}

extension [RunSupport.Output] {
    public func on(_ topic: String) -> [RunSupport.Output] { filter { $0.topic == topic } }
}
