import FunnelTestSupport
import Foundation
import FunnelCore
import FunnelKafka
import Testing

@testable import FunnelDaemon

/// `run` with checkpoints on the mock cluster: a restarted daemon resumes with its state and
/// from its checkpoint's offsets.
@Suite("Run checkpoints on the mock cluster", .serialized)
struct CheckpointRunTests {
    static func runUntilCommitted(_ config: FunnelPulseConfig, _ count: Int) async throws -> Bool {
        let pipeline = try RunSupport.makePipeline(config)
        let task = Task { try await pipeline.run() }
        let committed = try await RunSupport.eventually(seconds: 90) {
            try RunSupport.committed(config)[0] == Int64(count)
        }
        pipeline.requestStop()
        try await task.value
        return committed
    }

    /// A fresh checkpoint directory's path (the test removes it).
    static func directory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent(RunSupport.unique("ckpt")).path
    }

    /// A run configuration on `cluster` (its topics created) checkpointing into `directory`.
    static func config(_ cluster: KafkaMockCluster, directory: String, intervalSeconds: Double) throws -> FunnelPulseConfig {
        var config = RunSupport.config(bootstrap: cluster.bootstrapServers)
        try RunSupport.createTopics(config, on: cluster)
        config.checkpoint.directory = directory
        config.checkpoint.intervalSeconds = intervalSeconds
        return config
    }

    @Test("a restart restores the state: outputs equal one uninterrupted engine's, a corrupt newest file is skipped",
          .timeLimit(.minutes(4)))
    func restartResumesFromTheCheckpoint() async throws {
        let (cluster, directory) = (try KafkaMockCluster(), Self.directory())
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = try Self.config(cluster, directory: directory, intervalSeconds: 1)
        config.checkpoint.keep = 2

        let first = RunSupport.events(300)
        let second = RunSupport.events(300, firstID: 300)
        let all: [String?] = first + second
        let expected = try RunSupport.expected(all, config: config.engine)
        let expectedFirst = try RunSupport.expected(first, config: config.engine)
        // The second half alone, on empty state, would not give the same outputs: the check below can fail.
        let expectedSecondAlone = try RunSupport.expected(second, config: config.engine)
        #expect(expectedSecondAlone.snapshots != Array(expected.snapshots.dropFirst(expectedFirst.snapshots.count)))

        try RunSupport.produce(first, topic: config.inputs[0].topic, bootstrap: cluster.bootstrapServers)
        #expect(try await Self.runUntilCommitted(config, first.count))
        let store = try CheckpointStore(directory: directory, keep: 2, logger: RunSupport.logger())
        #expect(!store.files().isEmpty && store.files().count <= 2)

        // A newer file that is not a checkpoint: reported and skipped, the previous one is used.
        try Data("torn write".utf8).write(to: URL(fileURLWithPath: directory + "/checkpoint-999999999999.fpck"))

        try RunSupport.produce(second, topic: config.inputs[0].topic, bootstrap: cluster.bootstrapServers)
        #expect(try await Self.runUntilCommitted(config, all.count))

        let total = expected.snapshots.count + expected.scoredEventIDs.count + expected.alerts.count
        let outputs = try await RunSupport.collect(config, seconds: 20) { $0.count >= total }
        let snapshots = outputs.on(config.outputs.funnel).map(\.value)
        let scores = outputs.on(config.outputs.scores).compactMap { RunPipelineTests.eventID($0.value) }
        #expect(snapshots == expected.snapshots)
        #expect(scores.count == expected.scoredEventIDs.count)
        #expect(Set(scores) == Set(expected.scoredEventIDs))
        #expect(outputs.on(config.outputs.alerts).map(\.value) == expected.alerts)
    }

    /// A crash before the first checkpoint that covers a partition must not restart it at a
    /// committed offset with none of the state before it: with checkpoints on, offsets are
    /// committed only once a checkpoint holds the state they lead to.
    @Test("with checkpoints, nothing is committed before a checkpoint holds it; the stop's checkpoint commits",
          .timeLimit(.minutes(3)))
    func offsetsAreCommittedOnlyWithACheckpoint() async throws {
        let (cluster, directory) = (try KafkaMockCluster(), Self.directory())
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try Self.config(cluster, directory: directory, intervalSeconds: 3600)

        let events = RunSupport.events(200)
        let expected = try RunSupport.expected(events, config: config.engine)
        try RunSupport.produce(events, topic: config.inputs[0].topic, bootstrap: cluster.bootstrapServers)
        let metrics = MetricsSetup()
        let pipeline = try RunSupport.makePipeline(config, metrics: metrics)
        let task = Task { try await pipeline.run() }
        // Every score delivered: every input processed and its outputs acknowledged.
        let scoresTopic = config.outputs.scores
        let wanted = expected.scoredEventIDs.count
        let outputs = try await RunSupport.collect(config, seconds: 60) { $0.on(scoresTopic).count >= wanted }
        #expect(outputs.on(scoresTopic).count == wanted)
        try await Task.sleep(for: .seconds(1))
        let before = try RunSupport.committed(config)[0] ?? nil
        #expect((before ?? -1) < 0, "committed \(String(describing: before)) before any checkpoint")
        pipeline.requestStop()
        try await task.value
        #expect(try RunSupport.committed(config)[0] == Int64(events.count))
        let store = try CheckpointStore(directory: directory, keep: 3, logger: RunSupport.logger())
        #expect(store.files().count == 1)
        // The stop's checkpoint, published, covers every event this process read.
        let text = metrics.registry.emitToString()
        #expect(text.contains(#"funnelpulse_checkpoints_total{result="written"} 1"#))
        #expect(text.contains(#"funnelpulse_checkpoints_total{result="failed"} 0"#))
        #expect(text.contains("funnelpulse_events_in_total 200"))
        #expect(text.contains("funnelpulse_checkpoint_events_in 200"))
    }
}
