import FunnelTestSupport
import Foundation
import FunnelCore
import FunnelKafka
import Testing

@testable import FunnelDaemon

/// Partition handover on the mock cluster: a second daemon joins the group mid-stream and takes
/// partitions with their users' state.
@Suite("Partition handover on the mock cluster", .serialized)
struct PartitionHandoverRunTests {
    static let types = ["page", "view", "cart", "checkout", "purchase"]

    /// Users cycle; types walk the funnel in blocks of `users` events, 7 s apart.
    static func events(_ range: Range<Int>, users: Int) -> [(user: String, line: String)] {
        range.map { i in
            let ts = 1_700_000_000_000 + Int64(i) * 7_000
            let user = "u\(i % users)"
            return (user, #"{"event_id":"e\#(i)","ts":\#(ts),"user_id":"\#(user)","type":"\#(types[(i / users) % 5])","item_id":"i\#(i % 7)"}"#)
        }
    }

    /// Keyed by user: a user's events all go to one partition.
    static func produce(_ events: [(user: String, line: String)], topic: String, bootstrap: String) throws {
        let producer = try KafkaProducer(configuration: ["bootstrap.servers": bootstrap, "linger.ms": "5"],
                                         logger: RunSupport.logger())
        for (index, event) in events.enumerated() {
            try Array(event.user.utf8).withUnsafeBytes { key in
                try Array(event.line.utf8).withUnsafeBytes { value in
                    try producer.send(topic: topic, key: key, value: value, token: UInt64(index))
                }
            }
        }
        try producer.flush(timeoutMilliseconds: 30_000)
        var failures = 0
        producer.drainDeliveryReports { _, error in if error != nil { failures += 1 } }
        #expect(failures == 0)
    }

    /// The funnel stage of each scored event (`step` of the score record): computed from the
    /// user's windows, not from the model's weights, so it is comparable across hosts.
    struct StageSink: EngineSink {
        var stages: [String: String] = [:]
        let names: [String]
        mutating func deadLetter(_ failure: DecodeFailure, record: UnsafeRawBufferPointer, position: SourcePosition) {}
        mutating func snapshot(_ snapshot: FunnelSnapshot) {}
        mutating func score(_ score: ModelScore, event: Event, record: UnsafeRawBufferPointer, position: SourcePosition) {
            stages[TextField.string(event.eventID, in: record)] = score.step < names.count ? names[score.step] : "?"
        }
    }

    static func stages(_ lines: [String], engine: inout Engine, sink: inout StageSink) throws {
        var decoder = RecordDecoder(mapping: try CompiledMapping(.canonicalJSON))
        for (index, line) in lines.enumerated() {
            Array(line.utf8).withUnsafeBytes {
                engine.process($0, decoder: &decoder, at: SourcePosition(source: 0, offset: Int64(index)), sink: &sink)
            }
        }
    }

    static func field(_ name: String, _ json: String) -> String? {
        guard let range = json.range(of: "\"\(name)\":\"") else { return nil }
        return String(json[range.upperBound...].prefix { $0 != "\"" })
    }

    static func committedTotal(_ config: FunnelPulseConfig) throws -> Int64 {
        try RunSupport.committed(config, partitions: 2).values.reduce(0) { $0 + max(0, ($1 ?? 0)) }
    }

    @Test("a second daemon joins mid-stream: the moved users' stages equal one uninterrupted engine's",
          .timeLimit(.minutes(5)), arguments: ["directory", "topic"])
    func movedUsersContinueOnTheNewOwner(store: String) async throws {
        let cluster = try KafkaMockCluster()
        var config = RunSupport.config(bootstrap: cluster.bootstrapServers)
        try cluster.createTopic(config.inputs[0].topic, partitions: 2)
        for topic in config.outputs.all { try cluster.createTopic(topic, partitions: 1) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(RunSupport.unique("handover")).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        config.checkpoint.handover = store
        if store == "directory" {
            // Shared by both daemons; neither keeps whole-engine checkpoints (those are per process).
            config.checkpoint.handoverDirectory = directory
        } else {
            config.checkpoint.handoverTopic = RunSupport.unique("state")
            // Small chunks: the states of this test are split over several records.
            config.checkpoint.handoverChunkBytes = 16 * 1024
            try cluster.createTopic(config.checkpoint.handoverTopic, partitions: 2)
        }
        try config.validate()

        let users = 40
        let first = Self.events(0..<400, users: users)
        let second = Self.events(400..<600, users: users)
        let names = config.engine.funnels.first?.steps.map(\.name) ?? []
        // Reference: one engine, all events. And what the second half would give on fresh state
        // (a new owner without handover): different, so the comparison below can fail.
        var reference = try Engine(config: config.engine)
        var referenceSink = StageSink(names: names)
        try Self.stages((first + second).map(\.line), engine: &reference, sink: &referenceSink)
        var fresh = try Engine(config: config.engine)
        var freshSink = StageSink(names: names)
        try Self.stages(second.map(\.line), engine: &fresh, sink: &freshSink)
        let secondIDs = Set(freshSink.stages.keys)
        #expect(secondIDs.contains { freshSink.stages[$0] != referenceSink.stages[$0] })

        try Self.produce(first, topic: config.inputs[0].topic, bootstrap: cluster.bootstrapServers)
        let a = try RunSupport.makePipeline(config)
        let taskA = Task { try await a.run() }
        #expect(try await RunSupport.eventually(seconds: 90) { try Self.committedTotal(config) == Int64(first.count) })

        // B joins: the group rebalances, A hands both partitions over (writes their states) and
        // each owner loads the states of what it is assigned.
        let b = try RunSupport.makePipeline(config)
        let taskB = Task { try await b.run() }
        #expect(try await RunSupport.eventually(seconds: 90) {
            b.health.snapshot.assignedPartitions > 0 && a.health.snapshot.assignedPartitions > 0
        })
        if store == "directory" {
            let files = try FileManager.default.contentsOfDirectory(atPath: directory)
            #expect(files.filter { $0.hasSuffix(".fpps") }.count == 2)
        }

        try Self.produce(second, topic: config.inputs[0].topic, bootstrap: cluster.bootstrapServers)
        #expect(try await RunSupport.eventually(seconds: 90) {
            try Self.committedTotal(config) == Int64(first.count + second.count)
        })
        a.requestStop()
        try await taskA.value
        b.requestStop()
        try await taskB.value

        let expectedScores = referenceSink.stages.count
        let outputs = try await RunSupport.collect(config, seconds: 30) { [config] in $0.on(config.outputs.scores).count >= expectedScores }
        var stages: [String: String] = [:]
        var conflicts = 0
        for output in outputs.on(config.outputs.scores) {
            guard let id = Self.field("event_id", output.value), let step = Self.field("step", output.value) else { continue }
            // At least once: an event re-read after a rebalance must score the same stage.
            if let seen = stages[id], seen != step { conflicts += 1 }
            stages[id] = step
        }
        #expect(conflicts == 0)
        #expect(stages == referenceSink.stages)
        // The second half (after B joined): the same stages as the reference, not a fresh start's.
        #expect(secondIDs.allSatisfy { stages[$0] == referenceSink.stages[$0] })
        let handoverA = try #require(a.handoverAtExit)
        let handoverB = try #require(b.handoverAtExit)
        #expect(handoverB.imports >= 1 && handoverB.usersIn > 0)
        #expect(handoverA.exports >= 2 && handoverA.usersOut > 0)
        #expect(a.statsAtExit?.rejectedTotal == 0 && b.statsAtExit?.rejectedTotal == 0)
    }

    @Test("a restart loads the state its stop handed over; a state behind the committed offset is skipped",
          .timeLimit(.minutes(4)))
    func staleStatesAreSkipped() async throws {
        let cluster = try KafkaMockCluster()
        var config = RunSupport.config(bootstrap: cluster.bootstrapServers)
        try cluster.createTopic(config.inputs[0].topic, partitions: 1)
        for topic in config.outputs.all { try cluster.createTopic(topic, partitions: 1) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(RunSupport.unique("handover")).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        config.checkpoint.directory = directory
        // Offsets are committed at checkpoints: one a second, not the default 30 s.
        config.checkpoint.intervalSeconds = 1
        config.checkpoint.handover = "directory"
        let events = Self.events(0..<120, users: 10)
        try Self.produce(events, topic: config.inputs[0].topic, bootstrap: cluster.bootstrapServers)

        func runOnce() async throws -> HandoverStats? {
            // Only the handed-over state may bring the users back: the whole-engine checkpoints
            // the same directory holds (which carry the users too) are removed before each start.
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasSuffix(".fpck") {
                try FileManager.default.removeItem(atPath: directory + "/" + name)
            }
            let pipeline = try RunSupport.makePipeline(config)
            let task = Task { try await pipeline.run() }
            let done = try await RunSupport.eventually(seconds: 60) {
                try RunSupport.committed(config)[0] == Int64(events.count) && pipeline.health.snapshot.assignedPartitions == 1
            }
            #expect(done)
            pipeline.requestStop()
            try await task.value
            return pipeline.handoverAtExit
        }
        // The stop revokes the partition: its users are written with offset 120.
        let first = try await runOnce()
        #expect(first?.exports == 1 && first?.usersOut == 10)
        let store = try DirectoryPartitionStateStore(directory: directory + "/partitions", logger: RunSupport.logger())
        let partition = TopicPartition(topic: config.inputs[0].topic, partition: 0)
        let written = try #require(try store.read([partition])[partition])
        #expect(written.offset == Int64(events.count))

        // A restart loads them (offset = committed).
        let second = try await runOnce()
        #expect(second?.imports == 1 && second?.usersIn == 10, "\(String(describing: second))")

        // A state behind the committed offset no longer matches the group's position: skipped.
        try store.write([PartitionHandoverState(partition: partition, offset: 5, state: written.state)])
        let third = try await runOnce()
        #expect(third?.imports == 0 && third?.usersIn == 0, "\(String(describing: third))")
    }

    @Test("the topic store: chunked states read back whole, the newest per key wins", .timeLimit(.minutes(2)))
    func topicStoreKeepsTheNewestStatePerPartition() throws {
        let cluster = try KafkaMockCluster()
        let topic = RunSupport.unique("state")
        try cluster.createTopic(topic, partitions: 3)
        let settings = ["bootstrap.servers": cluster.bootstrapServers]
        func store() throws -> TopicPartitionStateStore {
            try TopicPartitionStateStore(topic: topic, group: "g1", chunkBytes: 1024, producerSettings: settings,
                                         readerSettings: settings, timeoutMilliseconds: 20_000,
                                         logger: RunSupport.logger())
        }
        let p0 = TopicPartition(topic: "clicks", partition: 0)
        let p1 = TopicPartition(topic: "clicks", partition: 1)
        let p2 = TopicPartition(topic: "clicks", partition: 2)
        let big = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let writer = try store()
        try writer.write([PartitionHandoverState(partition: p0, offset: 10, state: big),
                          PartitionHandoverState(partition: p1, offset: 20, state: [1, 2, 3])])
        // Newer states: p0 shorter (fewer chunks than before), p1 chunked now.
        try writer.write([PartitionHandoverState(partition: p0, offset: 11, state: Array(big.prefix(1500)))])
        try writer.write([PartitionHandoverState(partition: p1, offset: 25, state: Array(big.suffix(3000)))])
        let read = try store().read([p0, p1, p2])
        #expect(read[p0] == PartitionHandoverState(partition: p0, offset: 11, state: Array(big.prefix(1500))))
        #expect(read[p1] == PartitionHandoverState(partition: p1, offset: 25, state: Array(big.suffix(3000))))
        #expect(read[p2] == nil)
        // Another group's keys are not ours.
        let other = try TopicPartitionStateStore(topic: topic, group: "g2", chunkBytes: 1024, producerSettings: settings,
                                                 readerSettings: settings, timeoutMilliseconds: 20_000,
                                                 logger: RunSupport.logger())
        #expect(try other.read([p0, p1]).isEmpty)
        // A topic that does not exist reads as no state.
        let missing = try TopicPartitionStateStore(topic: RunSupport.unique("none"), group: "g1", chunkBytes: 1024,
                                                   producerSettings: settings, readerSettings: settings,
                                                   timeoutMilliseconds: 5_000, logger: RunSupport.logger())
        #expect(try missing.read([p0]).isEmpty)
    }

    @Test func handoverSettingsAreValidated() throws {
        func refusal(_ change: (inout FunnelPulseConfig) -> Void) -> String? {
            var config = RunSupport.config(bootstrap: "localhost:9092")
            change(&config)
            do {
                try config.validate()
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal { $0.checkpoint.handover = "disk" }?.contains("checkpoint.handover") == true)
        #expect(refusal { $0.checkpoint.handover = "directory" }?.contains("checkpoint.handover_directory") == true)
        #expect(refusal {
            $0.checkpoint.handover = "directory"
            $0.checkpoint.handoverDirectory = "/var/lib/funnelpulse/partitions"
        } == nil)
        #expect(refusal { $0.checkpoint.handover = "topic" }?.contains("checkpoint.handover_topic") == true)
        #expect(refusal {
            $0.checkpoint.handover = "topic"
            $0.checkpoint.handoverTopic = $0.outputs.scores
        }?.contains("also an input or output") == true)
        #expect(refusal {
            $0.checkpoint.handover = "topic"
            $0.checkpoint.handoverTopic = "funnelpulse-state"
        } == nil)
        #expect(refusal { $0.checkpoint.handoverChunkBytes = 10 }?.contains("handover_chunk_bytes") == true)
    }
}
