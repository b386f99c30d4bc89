import FunnelTestSupport
import Foundation
import FunnelCore
import FunnelKafka
import Testing

@testable import FunnelDaemon

/// The `run` pipeline on librdkafka's in-process mock cluster: accounting, the commit rule,
/// failing loudly, back-pressure.
@Suite("Run pipeline on the mock cluster", .serialized)
struct RunPipelineTests {
    /// 200 events + a malformed record + a tombstone on one partition.
    static func inputLines() -> [String?] {
        var lines: [String?] = RunSupport.events(200)
        lines.insert("{\"event_id\":\"bad\",\"ts\":", at: 50)
        lines.insert(nil, at: 120)
        return lines
    }

    @Test("every input is accounted for and snapshots equal the engine's own", .timeLimit(.minutes(1)))
    func endToEnd() async throws {
        let cluster = try KafkaMockCluster()
        let config = RunSupport.config(bootstrap: cluster.bootstrapServers)
        try RunSupport.createTopics(config, on: cluster)
        let lines = Self.inputLines()
        let expected = try RunSupport.expected(lines, config: config.engine)
        #expect(expected.deadLetters == 2)
        #expect(!expected.snapshots.isEmpty)
        try RunSupport.produce(lines, topic: config.inputs[0].topic, bootstrap: cluster.bootstrapServers)

        let pipeline = try RunSupport.makePipeline(config)
        let task = Task { try await pipeline.run() }
        // Wait for each kind of output, not a total: under load a rebalance may re-deliver inputs.
        let outputs = try await RunSupport.collect(config) { outputs in
            outputs.on(config.outputs.scores).count >= expected.scoredEventIDs.count
                && outputs.on(config.outputs.funnel).count >= expected.snapshots.count
                && outputs.on(config.outputs.deadletter).count >= expected.deadLetters
        }
        let committedBeforeStop = try await RunSupport.eventually(seconds: 10) {
            try RunSupport.committed(config)[0] == Int64(lines.count)
        }
        pipeline.requestStop()
        try await task.value

        let deadLetters = outputs.on(config.outputs.deadletter)
        let snapshots = outputs.on(config.outputs.funnel)
        let scores = outputs.on(config.outputs.scores)
        #expect(deadLetters.count == 2)
        #expect(deadLetters.contains { $0.value.contains("\"reason\":\"tombstone\"") && $0.value.contains("\"offset\":120") })
        #expect(deadLetters.contains { $0.value.contains("\"reason\":\"malformed_json\"") && $0.value.contains("\"offset\":50") })
        #expect(snapshots.map(\.value) == expected.snapshots)
        #expect(snapshots.allSatisfy { $0.key == "default" || $0.key != nil })
        #expect(Set(scores.compactMap { Self.eventID($0.value) }) == Set(expected.scoredEventIDs))
        #expect(scores.count == expected.scoredEventIDs.count)
        #expect(scores.allSatisfy { $0.headers["schema"] == ScoreRecord.schema && $0.headers["model-version"] != nil })
        // The header names the model version that made the score, record by record.
        #expect(scores.allSatisfy { $0.value.contains("\"model_version\":\($0.headers["model-version"] ?? "?"),") })
        #expect(Set(scores.compactMap { $0.headers["model-version"] }).count > 1)
        #expect(snapshots.allSatisfy { $0.headers["schema"] == OutputRecords.funnelSnapshotSchema })
        #expect(scores.count + expected.purchases + deadLetters.count == lines.count)
        #expect(committedBeforeStop)
        #expect(try RunSupport.committed(config)[0] == Int64(lines.count))
        #expect(pipeline.statsAtExit?.read == lines.count)
    }

    @Test("no offset is committed past outputs the broker has not acknowledged", .timeLimit(.minutes(2)))
    func commitWaitsForAcks() async throws {
        let cluster = try KafkaMockCluster()
        var config = RunSupport.config(bootstrap: cluster.bootstrapServers)
        config.kafka.librdkafka["retry.backoff.ms"] = "200"
        try RunSupport.createTopics(config, on: cluster)
        let lines: [String?] = RunSupport.events(50)
        try RunSupport.produce(lines, topic: config.inputs[0].topic, bootstrap: cluster.bootstrapServers)
        // Every Produce request fails (retriably) until the errors are cleared below: the outputs
        // stay un-acked however fast the brokers' requests use the errors up.
        cluster.pushRequestErrors(apiKey: 0, errors: Array(repeating: 19, count: 10_000))  // NOT_ENOUGH_REPLICAS

        let pipeline = try RunSupport.makePipeline(config)
        let task = Task { try await pipeline.run() }
        // Joined and consuming, yet nothing may be committed while the outputs are un-acked.
        let consuming = try await RunSupport.eventually(seconds: 15) { pipeline.health.snapshot.eventsRead > 0 }
        #expect(consuming)
        try await Task.sleep(for: .seconds(1))
        let committedWhileFailing = try RunSupport.committed(config)[0] ?? nil
        #expect(committedWhileFailing == nil, "committed \(committedWhileFailing ?? -1) while no output was acknowledged")
        cluster.clearRequestErrors(apiKey: 0)
        let done = try await RunSupport.eventually(seconds: 60) {
            try RunSupport.committed(config)[0] == Int64(lines.count)
        }
        #expect(done)
        pipeline.requestStop()
        try await task.value
    }

    @Test("an undeliverable output stops the pipeline loudly without committing it", .timeLimit(.minutes(1)))
    func failsLoudly() async throws {
        let cluster = try KafkaMockCluster()
        var config = RunSupport.config(bootstrap: cluster.bootstrapServers)
        config.kafka.deliveryRetries = 1
        config.kafka.deliveryRetryBackoffMs = 50
        config.kafka.librdkafka["message.timeout.ms"] = "1000"
        config.kafka.librdkafka["retry.backoff.ms"] = "100"
        try RunSupport.createTopics(config, on: cluster)
        try RunSupport.produce(RunSupport.events(20), topic: config.inputs[0].topic, bootstrap: cluster.bootstrapServers)
        cluster.pushRequestErrors(apiKey: 0, errors: Array(repeating: 19, count: 500))

        let pipeline = try RunSupport.makePipeline(config)
        await #expect(throws: Pipeline.Failure.self) { try await pipeline.run() }
        #expect(pipeline.health.readiness().ready == false)
        #expect(pipeline.health.snapshot.failure != nil)
        #expect(try RunSupport.committed(config)[0] ?? nil == nil)
    }

    @Test("fetching pauses above max_in_flight_outputs and resumes below half", .timeLimit(.minutes(1)))
    func backPressure() async throws {
        let cluster = try KafkaMockCluster()
        var config = RunSupport.config(bootstrap: cluster.bootstrapServers)
        config.kafka.maxInFlightOutputs = 10
        config.kafka.pollBatch = 50
        try RunSupport.createTopics(config, on: cluster)
        let lines: [String?] = RunSupport.events(300)
        try RunSupport.produce(lines, topic: config.inputs[0].topic, bootstrap: cluster.bootstrapServers)
        cluster.setBrokerRoundTripTime(-1, milliseconds: 50)

        let pipeline = try RunSupport.makePipeline(config)
        let task = Task { try await pipeline.run() }
        let sawPause = try await RunSupport.eventually(seconds: 30) { pipeline.health.snapshot.paused }
        #expect(sawPause)
        let done = try await RunSupport.eventually(seconds: 40) {
            try RunSupport.committed(config)[0] == Int64(lines.count)
        }
        #expect(done)
        #expect(pipeline.health.snapshot.paused == false)
        pipeline.requestStop()
        try await task.value
    }

    static func eventID(_ json: String) -> String? {
        guard let range = json.range(of: "\"event_id\":\"") else { return nil }
        return String(json[range.upperBound...].prefix { $0 != "\"" })
    }
}
