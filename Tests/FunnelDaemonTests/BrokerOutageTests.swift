import Foundation
import FunnelCore
import FunnelKafka
import FunnelTestSupport
import Prometheus
import Synchronization
import Testing

@testable import FunnelDaemon

/// The `run` pipeline under broker faults injected into librdkafka's mock cluster: all brokers
/// down, request errors, a missing output topic, an oversized output. The at-least-once contract
/// is checked the same way as in ``RunPipelineTests``: every input accounted for by the outputs,
/// the committed offset equal to the input count.
@Suite("Broker outages and faults on the mock cluster", .serialized)
struct BrokerOutageTests {
    @Test("all brokers down for 20 s: the daemon keeps running, /readyz follows, nothing is lost",
          .timeLimit(.minutes(5)))
    func outage() async throws {
        let cluster = try KafkaMockCluster(brokers: 3)
        let config = RunSupport.config(bootstrap: cluster.bootstrapServers)
        try RunSupport.createTopics(config, on: cluster)
        let pipeline = try RunSupport.makePipeline(config)
        let run = PipelineRun(pipeline)
        let feed = try InputFeed(topic: config.inputs[0].topic, bootstrap: cluster.bootstrapServers)
        // Input flows and is processed before the outage, and the daemon is ready. (Alone this takes
        // a few seconds; at the start of the whole suite every mock cluster competes for two cores.)
        let flowing = try await RunSupport.eventually(seconds: 150) { pipeline.health.snapshot.eventsRead >= 200 }
        #expect(flowing, "\(pipeline.health.snapshot.eventsRead) inputs read")
        let becameReady = try await RunSupport.eventually(seconds: 30) { pipeline.health.readiness().ready }
        #expect(becameReady, "\(pipeline.health.readiness())")

        // What an HTTP probe of `/readyz` gets (the route, without a socket).
        let endpoints = OperationsEndpoints(registry: PrometheusCollectorRegistry(),
                                            readiness: { pipeline.health.readiness() })
        func readyz() -> (ready: Bool, body: String) {
            let response = endpoints.respond(to: "/readyz")
            let body = response.map { String(decoding: $0.body, as: UTF8.self) } ?? "no route"
            return (response?.status == 200, body.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(readyz().ready)

        let clock = ContinuousClock()
        let down = clock.now
        cluster.setBrokerDown(-1)
        var notReadyAfter: Duration?
        var notReadyReason = ""
        var readyDuringOutage: [Duration] = []
        while clock.now - down < .seconds(20) {
            let state = readyz()
            if !state.ready, notReadyAfter == nil {
                notReadyAfter = clock.now - down
                notReadyReason = state.body
            }
            if state.ready, notReadyAfter != nil { readyDuringOutage.append(clock.now - down) }
            if run.exited {
                Issue.record("the pipeline exited during the outage: \(run.outcome)")
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let sentDuringOutage = feed.sent
        let up = clock.now
        cluster.setBrokerUp(-1)
        var recovery: [(after: Duration, reason: String)] = []
        let readyAgain = try await RunSupport.eventually(seconds: 45) {
            let state = readyz()
            if recovery.last?.reason != state.body { recovery.append((clock.now - up, state.body)) }
            return state.ready
        }
        let recoveredAfter = clock.now - up
        #expect(readyAgain, "\(readyz().body)")
        #expect(!run.exited, "\(run.outcome)")
        // Input keeps flowing after the recovery, then stops; every input must be committed.
        let moreInput = try await RunSupport.eventually(seconds: 20) { feed.sent >= sentDuringOutage + 200 }
        #expect(moreInput)
        let total = try await feed.stop()
        let committed = try await RunSupport.eventually(seconds: 60) {
            try RunSupport.committed(config)[0] == Int64(total)
        }
        let committedOffset = try RunSupport.committed(config)[0] ?? nil
        #expect(committed, "committed \(String(describing: committedOffset)) of \(total)")

        let lines: [String?] = RunSupport.events(total)
        let expected = try RunSupport.expected(lines, config: config.engine)
        let outputs = try await Self.collect(config, scores: expected.scoredEventIDs, snapshots: expected.snapshots)
        pipeline.requestStop()
        try await run.wait()

        let accounting = Accounting(outputs: outputs, config: config, expected: expected, inputs: total)
        #expect(accounting.lostScores.isEmpty, "scores lost: \(accounting.lostScores.prefix(20))")
        #expect(accounting.unexpectedScores.isEmpty)
        #expect(accounting.unexplainedDeadLetters.isEmpty, "\(accounting.unexplainedDeadLetters.prefix(5))")
        #expect(accounting.distinctScores + expected.purchases == total)
        let snapshots = outputs.on(config.outputs.funnel).map(\.value)
        let missingSnapshots = Set(expected.snapshots).subtracting(snapshots)
        let extraSnapshots = Set(snapshots).subtracting(expected.snapshots)
        #expect(missingSnapshots.isEmpty && extraSnapshots.isEmpty,
                "funnel snapshots missing \(missingSnapshots.sorted()), extra \(extraSnapshots.sorted())")
        // Read again: only what was read after the last commit before the group session expired
        // (auto-commit runs every second; the feed writes 100 inputs a second). Each re-read input
        // adds at most one record (a `late` dead letter: it is behind the watermark by then).
        let read = pipeline.statsAtExit?.read ?? 0
        let reprocessed = read - total
        #expect(read >= total)
        #expect(reprocessed <= 500)
        #expect(accounting.duplicates <= max(reprocessed, 0))

        #expect(notReadyAfter != nil, "/readyz stayed ready while every broker was down")
        #expect(notReadyReason.contains("kafka unreachable"), "\(notReadyReason)")
        #expect(readyDuringOutage.isEmpty, "ready again while brokers were down: \(readyDuringOutage.prefix(3))")
        print("""
            broker outage: inputs \(total) (\(sentDuringOutage) sent before the end of the outage), \
            not ready after \(notReadyAfter.map { "\($0)" } ?? "never") (\(notReadyReason)), \
            ready again \(recoveredAfter) after the brokers came back, \
            reprocessed inputs \(reprocessed), duplicate outputs \(accounting.duplicates) \
            (late dead letters \(accounting.redeliveredDeadLetters), repeated scores \(accounting.repeatedScores)); \
            readiness after the brokers came back: \(recovery.map { "\($0.after): \($0.reason)" })
            """)
        withExtendedLifetime(cluster) {}
    }
}

extension BrokerOutageTests {
    @Test("injected Produce, Fetch and OffsetCommit errors are retried: nothing lost, duplicates bounded",
          .timeLimit(.minutes(2)))
    func requestErrors() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        var config = RunSupport.config(bootstrap: cluster.bootstrapServers)
        // Short enough that a delayed Produce response times the batch out: the publisher's own
        // retry path (a new send of the same bytes) runs, not only librdkafka's internal retries.
        config.kafka.librdkafka["message.timeout.ms"] = "2000"
        config.kafka.deliveryRetries = 5
        config.kafka.deliveryRetryBackoffMs = 100
        try RunSupport.createTopics(config, on: cluster)
        let lines: [String?] = RunSupport.events(600)
        let expected = try RunSupport.expected(lines, config: config.engine)
        try RunSupport.produce(lines, topic: config.inputs[0].topic, bootstrap: cluster.bootstrapServers)

        // Broker 1 answers the pipeline's first requests of each kind with these (code, delay).
        let produce: [(code: Int32, rttMilliseconds: Int32)] = [
            (KafkaError.Code.notLeaderForPartition, 0), (7 /* REQUEST_TIMED_OUT */, 300),
            (19 /* NOT_ENOUGH_REPLICAS */, 0), (KafkaError.Code.transport, 0),
            (0, 3000),  // persisted, but answered after the messages timed out
            (KafkaError.Code.notLeaderForPartition, 0),
        ]
        let fetch: [(code: Int32, rttMilliseconds: Int32)] = [
            (KafkaError.Code.notLeaderForPartition, 0), (KafkaError.Code.transport, 0),
            (5 /* LEADER_NOT_AVAILABLE */, 0), (7 /* REQUEST_TIMED_OUT */, 200),
        ]
        let commit: [(code: Int32, rttMilliseconds: Int32)] = [
            (7 /* REQUEST_TIMED_OUT */, 0), (15 /* COORDINATOR_NOT_AVAILABLE */, 0), (16 /* NOT_COORDINATOR */, 0),
        ]
        let injected: [(apiKey: Int16, errors: [(code: Int32, rttMilliseconds: Int32)])] = [
            (0, produce), (1, fetch), (8, commit),
        ]
        for (apiKey, errors) in injected {
            try cluster.pushBrokerRequestErrors(1, apiKey: apiKey, errors: errors)
        }

        let metrics = MetricsSetup()
        let pipeline = try Pipeline(config: config, mappings: [try CompiledMapping(.canonicalJSON)],
                                    logger: RunSupport.logger(), metrics: PipelineMetrics(factory: metrics.factory))
        let run = PipelineRun(pipeline)
        let committed = try await RunSupport.eventually(seconds: 60) {
            try RunSupport.committed(config)[0] == Int64(lines.count)
        }
        #expect(committed)
        #expect(!run.exited, "\(run.outcome)")
        for (apiKey, errors) in injected {
            #expect(try cluster.pendingRequestErrors(1, apiKey: apiKey) == 0,
                    "API \(apiKey): \(errors.count) errors injected, not all hit")
        }
        let outputs = try await Self.collect(config, scores: expected.scoredEventIDs, snapshots: expected.snapshots)
        pipeline.requestStop()
        try await run.wait()

        let accounting = Accounting(outputs: outputs, config: config, expected: expected, inputs: lines.count)
        #expect(accounting.lostScores.isEmpty, "scores lost: \(accounting.lostScores.prefix(20))")
        #expect(accounting.unexpectedScores.isEmpty)
        #expect(accounting.unexplainedDeadLetters.isEmpty, "\(accounting.unexplainedDeadLetters.prefix(5))")
        #expect(accounting.distinctScores + expected.purchases == lines.count)
        let snapshots = outputs.on(config.outputs.funnel).map(\.value)
        #expect(Set(snapshots) == Set(expected.snapshots))
        // Only the publisher's re-sends can duplicate here (no rebalance: nothing is re-read), at
        // most one record each.
        let metricsText = metrics.registry.emitToString()
        let retries = Self.sum(of: "funnelpulse_output_retries_total", in: metricsText)
        #expect(retries > 0, "the delayed Produce response should have timed messages out")
        #expect(pipeline.statsAtExit?.read == lines.count)
        let duplicates = accounting.duplicates + (snapshots.count - Set(snapshots).count)
        #expect(duplicates <= retries)
        print("""
            request errors: inputs \(lines.count), injected \(injected.map { "API \($0.apiKey): \($0.errors.count)" }), \
            publisher re-sends \(retries), duplicate outputs \(duplicates) \
            (scores \(accounting.repeatedScores), snapshots \(snapshots.count - Set(snapshots).count)), lost 0
            """)
        withExtendedLifetime(cluster) {}
    }

    /// ``RunPipelineTests/failsLoudly()`` covers Produce errors outlasting the retries; these are
    /// the two permanent refusals: an output topic that does not exist (and may not be
    /// auto-created) and an output record above `message.max.bytes`.
    @Test("a missing output topic stops the pipeline with a clear error; after creating it a restart loses nothing",
          .timeLimit(.minutes(2)))
    func missingOutputTopic() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        var config = RunSupport.config(bootstrap: cluster.bootstrapServers)
        // librdkafka waits this long for a topic to appear before failing its messages (30 s default).
        config.kafka.librdkafka["topic.metadata.propagation.max.ms"] = "1000"
        config.kafka.deliveryRetries = 2
        config.kafka.deliveryRetryBackoffMs = 100
        for topic in [config.inputs[0].topic, config.outputs.funnel, config.outputs.deadletter, config.outputs.alerts] {
            try cluster.createTopic(topic, partitions: 1)
        }
        // The scores topic is absent and brokers will not auto-create it.
        cluster.setTopicError(config.outputs.scores, code: KafkaError.Code.unknownTopicOrPartition)
        let lines: [String?] = RunSupport.events(100)
        let expected = try RunSupport.expected(lines, config: config.engine)
        try RunSupport.produce(lines, topic: config.inputs[0].topic, bootstrap: cluster.bootstrapServers)
        let firstScored = try #require(lines.firstIndex { line in
            expected.scoredEventIDs.first.map { line?.contains("\"event_id\":\"\($0)\"") == true } ?? false
        })

        let pipeline = try RunSupport.makePipeline(config)
        let failure = try await Self.failure(of: pipeline)
        let description = failure.map { "\($0)" } ?? "none"
        #expect(failure is Pipeline.Failure, "\(description)")
        #expect(description.contains("UNKNOWN_TOPIC") && description.contains(config.outputs.scores), "\(description)")
        let readiness = pipeline.health.readiness()
        #expect(!readiness.ready)
        #expect(readiness.reason.contains("output lost") && readiness.reason.contains(config.outputs.scores),
                "\(readiness.reason)")
        let committed = try RunSupport.committed(config)[0] ?? nil
        #expect((committed ?? 0) <= Int64(firstScored), "committed \(String(describing: committed)) past the lost score")

        cluster.setTopicError(config.outputs.scores, code: 0)  // the operator creates the topic
        let restarted = try await Self.restart(config, inputs: lines.count)
        let outputs = try await Self.collect(config, scores: expected.scoredEventIDs)
        let accounting = Accounting(outputs: outputs, config: config, expected: expected, inputs: lines.count)
        #expect(accounting.lostScores.isEmpty, "scores lost: \(accounting.lostScores.prefix(20)); outputs by topic \(Dictionary(grouping: outputs, by: \.topic).mapValues(\.count))")
        #expect(accounting.unexpectedScores.isEmpty)
        #expect(accounting.unexplainedDeadLetters.isEmpty, "\(accounting.unexplainedDeadLetters.prefix(5))")
        #expect(accounting.distinctScores + expected.purchases == lines.count)
        // Duplicates only from inputs processed again after the restart, one record each at most.
        #expect(accounting.duplicates <= restarted)
        print("""
            missing output topic: \(description); committed before restart \(String(describing: committed)) \
            (first scored input \(firstScored)); restart re-read \(restarted) inputs, lost 0, \
            duplicate outputs \(accounting.duplicates)
            """)
        withExtendedLifetime(cluster) {}
    }

    @Test("an output above message.max.bytes stops the pipeline before its input; a restart with room loses nothing",
          .timeLimit(.minutes(2)))
    func outputTooLarge() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        var config = RunSupport.config(bootstrap: cluster.bootstrapServers)
        config.kafka.deliveryRetries = 2
        config.kafka.deliveryRetryBackoffMs = 100
        try RunSupport.createTopics(config, on: cluster)
        // A malformed 300 KB record: its dead letter carries it whole, far above the limit below;
        // every other output stays well under it.
        let bigIndex = 40
        let limit = 100_000
        var lines: [String?] = RunSupport.events(100)
        lines.insert("{\"event_id\":\"big\",\"ts\":" + String(repeating: "9", count: 300_000), at: bigIndex)
        let expected = try RunSupport.expected(lines, config: config.engine)
        #expect(expected.deadLetters == 1)
        #expect(expected.snapshots.allSatisfy { $0.utf8.count < limit / 4 })
        try RunSupport.produce(lines, topic: config.inputs[0].topic, bootstrap: cluster.bootstrapServers)

        var limited = config
        limited.kafka.librdkafka["message.max.bytes"] = String(limit)
        let pipeline = try RunSupport.makePipeline(limited)
        let failure = try await Self.failure(of: pipeline)
        let description = failure.map { "\($0)" } ?? "none"
        #expect(failure is Pipeline.Failure, "\(description)")
        #expect(description.contains("MSG_SIZE_TOO_LARGE") && description.contains(config.outputs.deadletter),
                "\(description)")
        let readiness = pipeline.health.readiness()
        #expect(!readiness.ready)
        #expect(readiness.reason.contains("MSG_SIZE_TOO_LARGE"), "\(readiness.reason)")
        // Everything before the oversized output's input is committed, nothing from it on.
        let committed = try RunSupport.committed(config)[0] ?? nil
        #expect(committed == Int64(bigIndex), "committed \(String(describing: committed))")

        let restarted = try await Self.restart(config, inputs: lines.count)
        let outputs = try await Self.collect(config, scores: expected.scoredEventIDs,
                                             deadLetterMarker: "\"offset\":\(bigIndex)")
        let accounting = Accounting(outputs: outputs, config: config, expected: expected, inputs: lines.count,
                                    expectedDeadLetterOffsets: [Int64(bigIndex)])
        #expect(accounting.lostScores.isEmpty, "scores lost: \(accounting.lostScores.prefix(20))")
        #expect(accounting.unexpectedScores.isEmpty)
        #expect(accounting.expectedDeadLetters == 1)
        #expect(accounting.unexplainedDeadLetters.isEmpty, "\(accounting.unexplainedDeadLetters.prefix(5))")
        #expect(accounting.distinctScores + expected.purchases + accounting.expectedDeadLetters == lines.count)
        #expect(accounting.duplicates <= restarted)
        print("""
            output too large: \(description); committed before restart \(String(describing: committed)); \
            restart re-read \(restarted) inputs, lost 0, duplicate outputs \(accounting.duplicates)
            """)
        withExtendedLifetime(cluster) {}
    }

    /// Reads the output topics until every expected score and snapshot (and a dead letter with
    /// `deadLetterMarker`) is there, or 60 s pass.
    static func collect(_ config: FunnelPulseConfig, scores: [String], snapshots: [String] = [],
                        deadLetterMarker: String? = nil) async throws -> [RunSupport.Output] {
        let wantedScores = Set(scores).count
        let wantedSnapshots = Set(snapshots).count
        return try await RunSupport.collect(config, seconds: 60) { outputs in
            Set(outputs.on(config.outputs.scores).compactMap { RunPipelineTests.eventID($0.value) }).count
                >= wantedScores
                && Set(outputs.on(config.outputs.funnel).map(\.value)).count >= wantedSnapshots
                && deadLetterMarker.map { marker in
                    outputs.on(config.outputs.deadletter).contains { $0.value.contains(marker) }
                } ?? true
        }
    }

    /// Runs the pipeline until it stops by itself (at most 40 s) and returns its error.
    static func failure(of pipeline: Pipeline) async throws -> (any Error)? {
        let run = PipelineRun(pipeline)
        let stopped = try await RunSupport.eventually(seconds: 40) { run.exited }
        #expect(stopped, "the pipeline kept running: \(pipeline.health.readiness())")
        if !stopped { pipeline.requestStop() }
        return await run.failure()
    }

    /// A new pipeline with the same group, run until every input is committed, then stopped.
    /// Returns how many inputs it read.
    static func restart(_ config: FunnelPulseConfig, inputs: Int) async throws -> Int {
        let pipeline = try RunSupport.makePipeline(config)
        let run = PipelineRun(pipeline)
        let committed = try await RunSupport.eventually(seconds: 40) {
            try RunSupport.committed(config)[0] == Int64(inputs)
        }
        #expect(committed, "the restarted pipeline did not commit every input: \(run.outcome)")
        pipeline.requestStop()
        try await run.wait()
        return pipeline.statsAtExit?.read ?? 0
    }

    /// Sums every sample of `metric` in Prometheus text.
    static func sum(of metric: String, in text: String) -> Int {
        text.split(separator: "\n").reduce(0) { total, line in
            guard line.hasPrefix(metric), let value = line.split(separator: " ").last.flatMap({ Double($0) })
            else { return total }
            return total + Int(value)
        }
    }
}

extension BrokerOutageTests {
    @Test("readiness: all brokers down for a client fails /readyz until a broker answers it again")
    func readinessFollowsBrokers() {
        let health = PipelineHealth(maxLag: 10)
        health.update {
            $0.started = true
            $0.assignedPartitions = 1
            $0.totalLag = 0
        }
        #expect(health.readiness().ready)
        health.brokersDown("producer", reason: "3/3 brokers are down")
        health.brokersDown("consumer", reason: "4/4 brokers are down")
        #expect(health.readiness() == (false, "kafka unreachable (consumer): 4/4 brokers are down"))
        health.brokersReachable("consumer")
        #expect(health.readiness() == (false, "kafka unreachable (producer): 3/3 brokers are down"))
        health.brokersReachable("producer")
        #expect(health.readiness().ready)
        // A failure still wins over everything else.
        health.brokersDown("consumer", reason: "x")
        health.update { $0.failure = "output lost" }
        #expect(health.readiness() == (false, "failed: output lost"))
    }
}

// MARK: - Helpers

/// A `Mutex` in a class, so closures can share it.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }
}

/// Runs ``Pipeline/run()`` in a task and remembers whether (and how) it ended.
final class PipelineRun: Sendable {
    private let task: Task<Void, any Error>
    private let state = Locked<(exited: Bool, outcome: String)>((false, "running"))

    init(_ pipeline: Pipeline) {
        let state = self.state
        task = Task {
            do {
                try await pipeline.run()
                state.withLock { $0 = (true, "stopped") }
            } catch {
                state.withLock { $0 = (true, "failed: \(error)") }
                throw error
            }
        }
    }

    var exited: Bool { state.withLock { $0.exited } }
    var outcome: String { state.withLock { $0.outcome } }

    func wait() async throws { try await task.value }

    /// The error the pipeline stopped with, nil if it stopped cleanly.
    func failure() async -> (any Error)? {
        do {
            try await task.value
            return nil
        } catch {
            return error
        }
    }
}

/// Produces canonical events (``RunSupport/events(_:users:firstID:)``, ids in order) to the input
/// topic at a steady rate from a background task until ``stop()``. Its own producer buffers while
/// brokers are down (default `message.timeout.ms` of 5 minutes), so no input is lost.
final class InputFeed: Sendable {
    private let producer: KafkaProducer
    private let task: Task<Void, any Error>
    private let state = Locked<(stop: Bool, sent: Int, failed: Int)>((false, 0, 0))

    init(topic: String, bootstrap: String, perTick: Int = 10, tick: Duration = .milliseconds(100)) throws {
        let producer = try KafkaProducer(configuration: ["bootstrap.servers": bootstrap, "linger.ms": "5"],
                                         logger: RunSupport.logger())
        self.producer = producer
        let state = self.state
        task = Task {
            while !state.withLock({ $0.stop }) {
                let first = state.withLock { $0.sent }
                for (index, line) in RunSupport.events(perTick, firstID: first).enumerated() {
                    try Array(line.utf8).withUnsafeBytes {
                        try producer.send(topic: topic, key: nil, value: $0, token: UInt64(first + index))
                    }
                }
                producer.poll(timeoutMilliseconds: 0)
                var failed = 0
                producer.drainDeliveryReports { _, error in if error != nil { failed += 1 } }
                state.withLock {
                    $0.sent += perTick
                    $0.failed += failed
                }
                try await Task.sleep(for: tick)
            }
        }
    }

    var sent: Int { state.withLock { $0.sent } }

    /// Stops producing, waits for every input to be acknowledged; returns how many were sent.
    func stop() async throws -> Int {
        state.withLock { $0.stop = true }
        try await task.value
        try producer.flush(timeoutMilliseconds: 30_000)
        var failed = 0
        producer.drainDeliveryReports { _, error in if error != nil { failed += 1 } }
        let (sent, failedBefore) = state.withLock { ($0.sent, $0.failed) }
        #expect(failed + failedBefore == 0, "input records not delivered to the mock cluster")
        return sent
    }
}

/// Outputs against the engine's own answer for the inputs: which scores are missing or extra,
/// which dead letters are re-deliveries (`late`: an input read again after a lost assignment or a
/// restart is behind the watermark by then) and which are unexplained.
struct Accounting {
    var distinctScores = 0
    var repeatedScores = 0
    var lostScores: [String] = []
    var unexpectedScores: [String] = []
    var redeliveredDeadLetters = 0
    /// Distinct dead letters for the inputs meant to be dead-lettered.
    var expectedDeadLetters = 0
    var unexplainedDeadLetters: [String] = []
    /// Output records beyond one per scored input: repeated scores and re-delivery dead letters.
    var duplicates: Int { repeatedScores + redeliveredDeadLetters }

    init(outputs: [RunSupport.Output], config: FunnelPulseConfig, expected: RunSupport.Expected, inputs: Int,
         expectedDeadLetterOffsets: Set<Int64> = []) {
        let scoreIDs = outputs.on(config.outputs.scores).compactMap { RunPipelineTests.eventID($0.value) }
        let distinct = Set(scoreIDs)
        let wanted = Set(expected.scoredEventIDs)
        distinctScores = distinct.count
        repeatedScores = scoreIDs.count - distinct.count
        lostScores = wanted.subtracting(distinct).sorted()
        unexpectedScores = distinct.subtracting(wanted).sorted()
        var seenExpected: Set<Int64> = []
        for record in outputs.on(config.outputs.deadletter) {
            let offset = Self.number(after: "\"offset\":", in: record.value)
            if let offset, expectedDeadLetterOffsets.contains(offset) {
                if seenExpected.insert(offset).inserted { expectedDeadLetters += 1 } else { redeliveredDeadLetters += 1 }
                continue
            }
            if record.value.contains("\"reason\":\"late\""), let offset, offset >= 0, offset < Int64(inputs) {
                redeliveredDeadLetters += 1
            } else {
                unexplainedDeadLetters.append(record.value)
            }
        }
    }

    static func number(after marker: String, in json: String) -> Int64? {
        guard let range = json.range(of: marker) else { return nil }
        return Int64(String(json[range.upperBound...].prefix { $0.isNumber || $0 == "-" }))
    }
}
