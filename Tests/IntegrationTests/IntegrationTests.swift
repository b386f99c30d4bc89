import FunnelTestSupport
import Foundation
import FunnelCore
import FunnelKafka
import Testing

@testable import FunnelDaemon

/// The broker the harness (`scripts/test.sh`) started: Tansu behind the ApiVersions proxy.
let integrationBootstrap = ProcessInfo.processInfo.environment["FUNNELPULSE_TEST_BOOTSTRAP"]

/// `funnelpulse run` against a real Kafka-protocol broker. Skipped (with this reason) when
/// `FUNNELPULSE_TEST_BOOTSTRAP` is unset: run them through `./scripts/test.sh`.
@Suite(
    "Run pipeline on a real broker",
    .serialized,
    .enabled(if: integrationBootstrap != nil, "FUNNELPULSE_TEST_BOOTSTRAP is not set; run ./scripts/test.sh")
)
struct RunIntegrationTests {
    static var bootstrap: String { integrationBootstrap ?? "" }

    /// The event id in an output: a score's own field, or inside a dead letter's escaped record.
    static func eventID(_ json: String) -> String? {
        guard let range = json.range(of: "event_id") else { return nil }
        let id = json[range.upperBound...].drop { $0 == "\\" || $0 == "\"" || $0 == ":" }.prefix { $0.isLetter || $0.isNumber }
        return id.isEmpty ? nil : String(id)
    }

    static func ids(_ outputs: [RunSupport.Output], _ topic: String) -> [String] {
        outputs.on(topic).compactMap { eventID($0.value) }
    }

    @Test("every input is one score, one funnel-only event or one dead letter; snapshots equal replay's",
          .timeLimit(.minutes(2)))
    func endToEnd() async throws {
        let config = RunSupport.config(bootstrap: Self.bootstrap, partitions: 1, createTopics: true)
        var lines: [String?] = RunSupport.events(400)
        // A shopper who carts and leaves: the cart-abandonment signal goes to the alerts topic.
        lines.insert(#"{"event_id":"lonely","ts":1700000014000,"user_id":"lonely","type":"cart","item_id":"i1"}"#, at: 2)
        lines.insert("not json at all", at: 100)
        lines.insert(nil, at: 250)
        let expected = try RunSupport.expected(lines, config: config.engine)
        #expect(expected.alerts.contains { $0.contains("\"cart_abandonment\"") && $0.contains("\"lonely\"") })

        // replay over the same events (a file cannot hold a tombstone; it changes no engine state).
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(RunSupport.unique("replay")).path
        let inputFile = directory + "-in.jsonl"
        try (lines.compactMap { $0 }.joined(separator: "\n") + "\n").write(toFile: inputFile, atomically: true, encoding: .utf8)
        _ = try ReplayDriver(options: .init(inputs: [inputFile], outputDirectory: directory,
                                            mapping: try CompiledMapping(.canonicalJSON), config: config,
                                            progress: false)).run()
        let replaySnapshots = try String(contentsOfFile: directory + "/funnel.jsonl", encoding: .utf8)
            .split(separator: "\n").map(String.init).filter { !$0.contains("\"partial\":true") }

        let pipeline = try RunSupport.makePipeline(config)
        let task = Task { try await pipeline.run() }
        // Topics are created by the pipeline; produce once they exist.
        _ = try await RunSupport.eventually(seconds: 30) { pipeline.health.snapshot.started }
        try RunSupport.produce(lines, topic: config.inputs[0].topic, bootstrap: Self.bootstrap)
        let total = expected.deadLetters + expected.snapshots.count + expected.scoredEventIDs.count
            + expected.alerts.count
        let outputs = try await RunSupport.collect(config, seconds: 60) { $0.count >= total }
        let committed = try await RunSupport.eventually(seconds: 20) {
            try RunSupport.committed(config)[0] == Int64(lines.count)
        }
        pipeline.requestStop()
        try await task.value

        let deadLetters = outputs.on(config.outputs.deadletter)
        let scores = Self.ids(outputs, config.outputs.scores)
        #expect(deadLetters.count == 2)
        #expect(deadLetters.contains { $0.value.contains("\"tombstone\"") })
        #expect(deadLetters.contains { $0.value.contains("\"malformed_json\"") })
        #expect(scores.count == Set(scores).count)
        #expect(Set(scores) == Set(expected.scoredEventIDs))
        #expect(scores.count + expected.purchases + deadLetters.count == lines.count)
        #expect(outputs.on(config.outputs.funnel).map(\.value) == replaySnapshots)
        #expect(replaySnapshots == expected.snapshots)
        let alerts = outputs.on(config.outputs.alerts)
        #expect(alerts.map(\.value) == expected.alerts)
        #expect(alerts.map(\.key) == expected.alertKeys.map { Optional($0) })
        #expect(alerts.allSatisfy { $0.headers["schema"] == AlertRecord.schema })
        #expect(committed)
    }

    @Test("a graceful restart mid-stream loses nothing and duplicates nothing", .timeLimit(.minutes(2)))
    func gracefulRestart() async throws {
        var config = RunSupport.config(bootstrap: Self.bootstrap, partitions: 1, createTopics: true)
        config.kafka.pollBatch = 20
        let lines: [String?] = RunSupport.events(600)
        let expected = try RunSupport.expected(lines, config: config.engine)

        let first = try RunSupport.makePipeline(config)
        let firstTask = Task { try await first.run() }
        _ = try await RunSupport.eventually(seconds: 30) { first.health.snapshot.started }
        try RunSupport.produce(lines, topic: config.inputs[0].topic, bootstrap: Self.bootstrap)
        _ = try await RunSupport.eventually(seconds: 30) { (first.health.snapshot.assignedPartitions) > 0 }
        try await Task.sleep(for: .milliseconds(300))
        first.requestStop()
        try await firstTask.value
        let stoppedAt = try RunSupport.committed(config)[0] ?? nil
        let readByFirst = first.statsAtExit?.read ?? 0
        #expect(stoppedAt.map(Int.init) == readByFirst, "a clean stop commits exactly what was processed")

        let second = try RunSupport.makePipeline(config)
        let secondTask = Task { try await second.run() }
        let done = try await RunSupport.eventually(seconds: 60) {
            try RunSupport.committed(config)[0] == Int64(lines.count)
        }
        second.requestStop()
        try await secondTask.value
        #expect(done)
        #expect(readByFirst + (second.statsAtExit?.read ?? 0) == lines.count)

        let outputs = try await RunSupport.collect(config, seconds: 30) { [config] in
            Set(Self.ids($0, config.outputs.scores)).count >= expected.scoredEventIDs.count
        }
        let scores = Self.ids(outputs, config.outputs.scores)
        #expect(scores.count == Set(scores).count, "no input scored twice")
        #expect(Set(scores) == Set(expected.scoredEventIDs), "no input lost")
    }

    @Test("two pipelines in one group split the partitions and account for every input", .timeLimit(.minutes(2)))
    func twoMembers() async throws {
        let config = RunSupport.config(bootstrap: Self.bootstrap, partitions: 4, createTopics: true)
        let lines: [String?] = RunSupport.events(800)
        let expected = try RunSupport.expected(lines, config: config.engine)

        let first = try RunSupport.makePipeline(config)
        let second = try RunSupport.makePipeline(config)
        let firstTask = Task { try await first.run() }
        let secondTask = Task { try await second.run() }
        _ = try await RunSupport.eventually(seconds: 30) { first.health.snapshot.started && second.health.snapshot.started }
        let split = try await RunSupport.eventually(seconds: 60) {
            first.health.snapshot.assignedPartitions > 0 && second.health.snapshot.assignedPartitions > 0
                && first.health.snapshot.assignedPartitions + second.health.snapshot.assignedPartitions == 4
        }
        #expect(split)
        try RunSupport.produce(lines, topic: config.inputs[0].topic, bootstrap: Self.bootstrap, keyed: true)
        let done = try await RunSupport.eventually(seconds: 60) {
            let committed = try RunSupport.committed(config, partitions: 4)
            return committed.values.reduce(Int64(0)) { $0 + ($1 ?? 0) } == Int64(lines.count)
        }
        first.requestStop()
        second.requestStop()
        try await firstTask.value
        try await secondTask.value
        #expect(done)
        let readFirst = first.statsAtExit?.read ?? 0
        let readSecond = second.statsAtExit?.read ?? 0
        #expect(readFirst > 0 && readSecond > 0)
        #expect(readFirst + readSecond == lines.count)

        let outputs = try await RunSupport.collect(config, seconds: 30) { [config] in
            Set(Self.ids($0, config.outputs.scores)).union(Self.ids($0, config.outputs.deadletter)).count
                >= expected.scoredEventIDs.count
        }
        // Each member's engine sees only its partitions and interleaves them, so events of one
        // partition can fall behind another's watermark (dead letter `late`): every input must
        // still be exactly one score, one dead letter or one accepted purchase.
        let scores = Self.ids(outputs, config.outputs.scores)
        let deadLettered = Self.ids(outputs, config.outputs.deadletter)
        let allIDs = Set(lines.compactMap { $0.flatMap(Self.eventID) })
        let purchases = Set(lines.compactMap { $0 }.filter { $0.contains("\"purchase\"") }.compactMap(Self.eventID))
        #expect(Set(scores).isDisjoint(with: deadLettered))
        #expect(Set(deadLettered).count == deadLettered.count)
        #expect(Set(scores).union(deadLettered).union(purchases) == allIDs)
        #expect(Set(expected.scoredEventIDs).subtracting(deadLettered) == Set(scores))
        #expect(scores.count == Set(scores).count)
    }
}
