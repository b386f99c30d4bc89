import ArgumentParser
import CoreMetrics
import Dispatch
import Foundation
import FunnelCore
import FunnelDaemon
import FunnelKafka
import Logging
import Synchronization

/// `funnelpulse-bench kafka`: the `run` pipeline end to end through a Kafka broker, in-process.
///
/// Modes:
/// - `prepare`: create topics (for a script that pre-loads the input with kcat).
/// - `throughput`: N pre-loaded events (produced here, or by the caller with `--preloaded`) are
///   consumed by a ``Pipeline``; the clock runs from the partitions being assigned until every
///   input has been read and every output acknowledged (events/s = N / time).
/// - `latency`: events are offered at a fixed rate with the send time in `event_id`; a reader on
///   the scores topic takes (receive time − send time) per score.
/// Without `--bootstrap` the broker is librdkafka's in-process mock cluster. Prints figures only.
struct KafkaBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka", abstract: "Pipeline throughput and input→score latency through Kafka.")

    enum Mode: String, ExpressibleByArgument { case prepare, throughput, latency }

    @Option(name: .long, help: "prepare | throughput | latency") var mode: Mode = .throughput
    @Option(name: .long, help: "Broker (host:port); omitted = in-process mock cluster.") var bootstrap: String?
    @Option(name: .long, help: "Events (throughput mode).") var events: Int = 500_000
    @Option(name: .long, help: "Partitions of every topic this run creates.") var partitions: Int = 4
    @Option(name: .long, help: "Topic name prefix (input is PREFIX.in).") var prefix: String?
    @Option(name: .long, help: "Extra topics to create in prepare mode (comma-separated).") var topics: String?
    @Flag(name: .long, help: "The input topic PREFIX.in already holds --events events.") var preloaded = false
    @Option(name: .long, help: "Engine model on/off.") var model: Bool = true
    @Option(name: .long, help: "Simulated users (200k: N=500k events span ~7 h of event time).")
    var users: Int = 200_000
    @Option(name: .long, help: "engine.allowed_lateness_seconds (per-partition watermarks: the default works for backlogs).")
    var lateness: Double = 5
    @Option(name: .long, help: "Offered events/s (latency mode).") var rate: Int = 20_000
    @Option(name: .long, help: "Measured seconds (latency mode).") var seconds: Double = 10
    @Option(name: .long, help: "Warm-up seconds, not measured (latency mode).") var warmup: Double = 3
    @Option(name: .long, help: "linger.ms of the offering producer (latency mode).") var inputLinger: Double = 0
    @Option(name: .long, help: "fetch.wait.max.ms of the scores reader (latency mode).") var readerFetchWait: Int = 5
    @Option(name: .long, help: "Label printed with the results.") var label: String = ""
    @Option(name: .long, help: "Give up after this many seconds.") var timeout: Double = 300
    @Option(name: .long, help: "checkpoint.interval_seconds, into a temporary directory (0: no checkpoints).")
    var checkpointInterval: Double = 0
    @Option(name: .long, parsing: .upToNextOption,
            help: "librdkafka overrides for the pipeline's clients, key=value.") var set: [String] = []

    func run() throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Self.logLevel
            return handler
        }
        let prefix = self.prefix ?? "kbench-\(UUID().uuidString.prefix(8).lowercased())"
        let cluster: KafkaMockCluster? = bootstrap == nil ? try KafkaMockCluster() : nil
        let servers = bootstrap ?? cluster!.bootstrapServers
        let names = Topics(prefix: prefix)
        defer { try? FileManager.default.removeItem(atPath: Self.checkpointDirectory(names)) }
        switch mode {
        case .prepare:
            let extra = (topics ?? "").split(separator: ",").map(String.init)
            try createTopics(names.all + extra, servers: servers, cluster: cluster)
        case .throughput:
            if !preloaded {
                try createTopics(names.all, servers: servers, cluster: cluster)
                try preload(topic: names.input, servers: servers)
            } else {
                try createTopics(names.outputs, servers: servers, cluster: cluster)
            }
            try throughput(names: names, servers: servers)
        case .latency:
            try createTopics(names.all, servers: servers, cluster: cluster)
            try latency(names: names, servers: servers)
        }
        withExtendedLifetime(cluster) {}
    }

    struct Topics {
        var prefix: String
        var input: String { "\(prefix).in" }
        var scores: String { "\(prefix).scores" }
        var outputs: [String] { ["\(prefix).scores", "\(prefix).funnel", "\(prefix).alerts", "\(prefix).dlq"] }
        var all: [String] { [input] + outputs }
    }

    static func logger() -> Logger {
        var logger = Logger(label: "kafka-bench")
        logger.logLevel = logLevel
        return logger
    }

    /// `FUNNELPULSE_BENCH_LOG_LEVEL` (default warning; info shows each checkpoint the pipeline writes).
    static var logLevel: Logger.Level {
        ProcessInfo.processInfo.environment["FUNNELPULSE_BENCH_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
    }

    private func createTopics(_ topics: [String], servers: String, cluster: KafkaMockCluster?) throws {
        if let cluster {
            for topic in topics { try cluster.createTopic(topic, partitions: Int32(partitions)) }
            return
        }
        let admin = try KafkaAdmin(configuration: ["bootstrap.servers": servers], logger: Self.logger())
        try admin.createTopics(topics.map { .init(name: $0, partitions: Int32(partitions), replicationFactor: 1) },
                               timeoutMilliseconds: 15_000)
        print("created \(topics.count) topics with \(partitions) partitions")
    }

    // MARK: - Events

    private func simulator(_ count: Int) -> Simulator {
        var sim = SimulatorConfig()
        sim.events = count
        sim.users = users
        sim.seed = 7
        sim.duration = 7 * 86_400_000  // long enough that `count` events fit
        return Simulator(config: sim)
    }

    /// The bytes of `"user_id":"…"`'s value in a simulated line (the record key).
    static func userKey(_ line: UnsafeRawBufferPointer) -> Range<Int>? {
        let needle = Array("\"user_id\":\"".utf8)
        guard line.count > needle.count else { return nil }
        var i = 0
        outer: while i + needle.count < line.count {
            for j in 0..<needle.count where line[i + j] != needle[j] {
                i += 1
                continue outer
            }
            let start = i + needle.count
            var end = start
            while end < line.count, line[end] != UInt8(ascii: "\"") { end += 1 }
            return start..<end
        }
        return nil
    }

    private func inputProducer(_ servers: String, linger: String) throws -> KafkaProducer {
        try KafkaProducer(configuration: [
            "bootstrap.servers": servers, "linger.ms": linger, "batch.num.messages": "10000",
            "queue.buffering.max.messages": "1000000", "queue.buffering.max.kbytes": "1048576",
        ], logger: Self.logger(), queueFullRetries: 10_000)
    }

    /// Produces `events` simulated events keyed by user to `topic` and waits for every ack.
    private func preload(topic: String, servers: String) throws {
        let producer = try inputProducer(servers, linger: "50")
        var sim = simulator(events)
        var line: [UInt8] = []
        line.reserveCapacity(512)
        var sent = 0
        var bytes = 0
        let start = DispatchTime.now().uptimeNanoseconds
        while true {
            line.removeAll(keepingCapacity: true)
            guard sim.next(into: &line) else { break }
            if line.last == UInt8(ascii: "\n") { line.removeLast() }
            bytes += line.count
            try line.withUnsafeBytes { value in
                let key = Self.userKey(value).map { UnsafeRawBufferPointer(rebasing: value[$0]) }
                try producer.send(topic: topic, key: key, value: value, token: UInt64(sent))
            }
            sent += 1
            if sent % 1000 == 0 {
                producer.poll(timeoutMilliseconds: 0)
                producer.drainDeliveryReports { _, _ in }
            }
        }
        try producer.flush(timeoutMilliseconds: 120_000)
        var failed = 0
        producer.drainDeliveryReports { _, error in if error != nil { failed += 1 } }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        print(String(format: "preload: %d events (%.0f bytes avg) to %@ in %.2f s (%.0f msg/s), %d failed",
                     sent, Double(bytes) / Double(max(sent, 1)), topic, elapsed, Double(sent) / elapsed, failed))
        guard sent == events, failed == 0 else {
            throw ValidationError("preload incomplete: \(sent) sent of \(events), \(failed) failed")
        }
    }

    // MARK: - Pipeline

    private static func checkpointDirectory(_ names: Topics) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("\(names.prefix)-checkpoints").path
    }

    private func pipelineConfig(names: Topics, servers: String) -> FunnelPulseConfig {
        var config = FunnelPulseConfig()
        config.engine.model.enabled = model
        config.engine.allowedLatenessSeconds = lateness
        config.inputs = [.init(topic: names.input)]
        config.outputs.scores = names.outputs[0]
        config.outputs.funnel = names.outputs[1]
        config.outputs.alerts = names.outputs[2]
        config.outputs.deadletter = names.outputs[3]
        config.kafka.bootstrapServers = servers
        config.kafka.groupID = "\(names.prefix)-g-\(UUID().uuidString.prefix(6).lowercased())"
        config.kafka.createTopics = false  // created above (the mock cluster has no CreateTopics)
        config.kafka.topicPartitions = partitions
        config.kafka.statisticsIntervalMs = 0
        config.kafka.librdkafka["topic.metadata.refresh.interval.ms"] = "1000"
        for pair in set {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { config.kafka.librdkafka[parts[0]] = parts[1] }
        }
        config.http.enabled = false
        config.shutdownGraceSeconds = 30
        if checkpointInterval > 0 {
            config.checkpoint.directory = Self.checkpointDirectory(names)
            config.checkpoint.intervalSeconds = checkpointInterval
            config.checkpoint.keep = 1
        }
        return config
    }

    /// What `pipeline.run()` ended with, once `done` is signalled.
    final class Outcome: Sendable {
        let done = DispatchSemaphore(value: 0)
        let error = Mutex<(any Error)?>(nil)
    }

    /// Starts `pipeline.run()` off the calling thread.
    private static func start(_ pipeline: Pipeline) -> Outcome {
        let outcome = Outcome()
        Task.detached {
            do { try await pipeline.run() } catch { outcome.error.withLock { $0 = error } }
            outcome.done.signal()
        }
        return outcome
    }

    /// Shared between the sender, the reader thread and the reader's hooks.
    final class LatencyState: Sendable {
        let readerAssigned = Atomic<Bool>(false)
        let sendingDone = Atomic<UInt64>(0)
        let scoresSeen = Atomic<Int>(0)
        let samples = Mutex<[UInt64]>([])
        /// Score latency per second of sending (index / rate), to tell a backlog from a constant delay.
        let perSecond = Mutex<[[UInt64]]>([])
        let inputSamples = Mutex<[UInt64]>([])
    }

    private static func waitAssigned(_ pipeline: Pipeline, timeout: Double) throws -> UInt64 {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeout * 1e9)
        while pipeline.health.snapshot.assignedPartitions == 0 {
            if let failure = pipeline.health.snapshot.failure { throw ValidationError("pipeline failed: \(failure)") }
            guard DispatchTime.now().uptimeNanoseconds < deadline else {
                throw ValidationError("no partitions assigned within \(timeout) s")
            }
            usleep(1000)
        }
        return DispatchTime.now().uptimeNanoseconds
    }

    private func throughput(names: Topics, servers: String) throws {
        let counters = BenchCounters(target: Int64(events))
        let config = pipelineConfig(names: names, servers: servers)
        let pipeline = try Pipeline(
            config: config, mappings: [try CompiledMapping(.canonicalJSON)], logger: Self.logger(),
            metrics: PipelineMetrics(factory: counters))
        let started = DispatchTime.now().uptimeNanoseconds
        let outcome = Self.start(pipeline)
        let assigned = try Self.waitAssigned(pipeline, timeout: 60)
        let cpuAtStart = ThreadCPU.sample()
        let deadline = started + UInt64(timeout * 1e9)
        while counters.doneAt.load(ordering: .acquiring) == 0 {
            if let failure = pipeline.health.snapshot.failure { throw ValidationError("pipeline failed: \(failure)") }
            guard DispatchTime.now().uptimeNanoseconds < deadline else {
                pipeline.requestStop()
                throw ValidationError("timed out: read \(counters.eventsIn.load(ordering: .relaxed)) of \(events)")
            }
            usleep(1000)
        }
        // Within a millisecond of the last acknowledgement (the loop's poll interval).
        let cpu = cpuAtStart.until(ThreadCPU.sample())
        let done = counters.doneAt.load(ordering: .acquiring)
        let firstRead = counters.firstBatchAt.load(ordering: .acquiring)
        pipeline.requestStop()
        outcome.done.wait()
        if let error = outcome.error.withLock({ $0 }) { throw error }
        let stats = pipeline.statsAtExit
        let seconds = Double(done - assigned) / 1e9
        print(BenchSupport.row("kafka-tput", [
            ("broker", label.isEmpty ? (bootstrap == nil ? "mock" : bootstrap!) : label),
            ("model", model ? "on" : "off"), ("partitions", "\(partitions)"),
            ("events", "\(events)"), ("read", "\(stats?.read ?? -1)"), ("accepted", "\(stats?.accepted ?? -1)"),
            ("rejected", "\(stats?.rejectedTotal ?? -1)"),
            ("outputs_acked", "\(counters.outputs.load(ordering: .relaxed))"),
            ("join_s", String(format: "%.2f", Double(assigned - started) / 1e9)),
            ("first_batch_s", String(format: "%.3f", Double(firstRead &- assigned) / 1e9)),
            ("seconds", String(format: "%.3f", seconds)),
            ("events_per_s", String(format: "%.0f", Double(events) / seconds)),
            // This process's CPU over the measured window (the mock cluster's brokers included,
            // a broker in another process not): per event, and in cores kept busy on average.
            ("cpu_s", String(format: "%.2f", cpu.total)),
            ("cpu_us_per_event", String(format: "%.2f", cpu.total / Double(events) * 1e6)),
            ("cores_busy", String(format: "%.2f", cpu.total / seconds)),
            ("cpu_by_thread", cpu.summary),
            ("allocator", ProcessAllocator.description.replacingOccurrences(of: " ", with: "-")),
        ]))
        print("RESULT throughput events_per_s=\(Int(Double(events) / seconds))")
    }

    // MARK: - Latency

    private func latency(names: Topics, servers: String) throws {
        let total = Int(Double(rate) * (warmup + seconds))
        let warmupCount = Int(Double(rate) * warmup)
        // Pre-generate: the sender only stamps and sends. Each entry is the line after its event_id.
        var sim = simulator(total)
        var tails: [[UInt8]] = []
        var keys: [[UInt8]] = []
        tails.reserveCapacity(total)
        var line: [UInt8] = []
        let marker = Array("\",\"ts\":".utf8)
        while tails.count < total {
            line.removeAll(keepingCapacity: true)
            guard sim.next(into: &line) else { break }
            if line.last == UInt8(ascii: "\n") { line.removeLast() }
            guard let cut = firstIndex(of: marker, in: line) else { continue }
            tails.append(Array(line[cut...]))
            keys.append(line.withUnsafeBytes { value in Self.userKey(value).map { Array(value[$0]) } ?? [] })
        }
        let config = pipelineConfig(names: names, servers: servers)
        let pipeline = try Pipeline(
            config: config, mappings: [try CompiledMapping(.canonicalJSON)], logger: Self.logger(),
            metrics: PipelineMetrics(factory: BenchCounters(target: -1)))
        let outcome = Self.start(pipeline)
        _ = try Self.waitAssigned(pipeline, timeout: 60)

        // The reader of the scores topic.
        let reader = try KafkaConsumer(configuration: [
            "bootstrap.servers": servers, "group.id": "\(names.prefix)-reader", "auto.offset.reset": "earliest",
            "enable.auto.commit": "false", "partition.assignment.strategy": "range", "fetch.wait.max.ms": String(readerFetchWait),
            "topic.metadata.refresh.interval.ms": "1000",
        ], logger: Self.logger())
        // The input topic too: send→readable-on-input separates broker/client delay from the pipeline's.
        try reader.subscribe(topics: [names.scores, names.input])
        let state = LatencyState()
        reader.onPartitionsAssigned = { _ in state.readerAssigned.store(true, ordering: .releasing) }
        let readerThread = Thread {
            var local: [UInt64] = []
            local.reserveCapacity(total)
            var inputs: [UInt64] = []
            inputs.reserveCapacity(total)
            var bySecond = [[UInt64]](repeating: [], count: Int(warmup + seconds) + 1)
            let scoresTopic = names.scores
            let prefix = Array("\"event_id\":\"t".utf8)
            var lastScore = DispatchTime.now().uptimeNanoseconds
            while true {
                let now0 = DispatchTime.now().uptimeNanoseconds
                let endedAt = state.sendingDone.load(ordering: .acquiring)
                if endedAt != 0, now0 > endedAt + 10_000_000_000 || (now0 > lastScore + 2_000_000_000 && now0 > endedAt + 2_000_000_000) {
                    break
                }
                _ = try? reader.pollBatch(maxMessages: 5000, timeoutMilliseconds: 20) { message in
                    let now = DispatchTime.now().uptimeNanoseconds
                    lastScore = now
                    guard let payload = message.payload,
                          let (sent, index) = Self.parseStamp(payload, prefix: prefix) else { return }
                    guard message.topic == scoresTopic else {
                        if index >= warmupCount, now >= sent { inputs.append(now - sent) }
                        return
                    }
                    state.scoresSeen.add(1, ordering: .relaxed)
                    if index >= warmupCount, now >= sent { local.append(now - sent) }
                    if now >= sent, index / rate < bySecond.count { bySecond[index / rate].append(now - sent) }
                }
            }
            state.samples.withLock { $0 = local }
            state.inputSamples.withLock { $0 = inputs }
            state.perSecond.withLock { $0 = bySecond }
        }
        readerThread.start()
        // Let the reader join before offering load (the warm-up covers the rest).
        let joinDeadline = DispatchTime.now().uptimeNanoseconds + 30_000_000_000
        while !state.readerAssigned.load(ordering: .acquiring), DispatchTime.now().uptimeNanoseconds < joinDeadline {
            usleep(1000)
        }

        let producer = try inputProducer(servers, linger: String(inputLinger))
        let interval = 1e9 / Double(rate)
        let begin = DispatchTime.now().uptimeNanoseconds
        var value: [UInt8] = []
        value.reserveCapacity(600)
        var sendErrors = 0
        var late: UInt64 = 0
        for index in 0..<tails.count {
            let due = begin + UInt64(Double(index) * interval)
            // Sleep (never spin: the pacer must not take a core from the pipeline) until due;
            // sleeps overshoot by tens of µs, so events then go out in small on-time bursts.
            var now = DispatchTime.now().uptimeNanoseconds
            if now < due { usleep(UInt32((due - now) / 1000)); now = DispatchTime.now().uptimeNanoseconds }
            if now > due + 2_000_000 { late += 1 }
            value.removeAll(keepingCapacity: true)
            value.append(contentsOf: "{\"event_id\":\"t".utf8)
            value.append(contentsOf: String(now).utf8)
            value.append(UInt8(ascii: "-"))
            value.append(contentsOf: String(index).utf8)
            value.append(contentsOf: tails[index])
            do {
                try value.withUnsafeBytes { v in
                    try keys[index].withUnsafeBytes { k in
                        try producer.send(topic: names.input, key: k.count > 0 ? k : nil, value: v, token: UInt64(index))
                    }
                }
            } catch { sendErrors += 1 }
            if index % 64 == 0 {
                producer.poll(timeoutMilliseconds: 0)
                producer.drainDeliveryReports { _, error in if error != nil { sendErrors += 1 } }
            }
        }
        let sendEnd = DispatchTime.now().uptimeNanoseconds
        try? producer.flush(timeoutMilliseconds: 30_000)
        producer.drainDeliveryReports { _, error in if error != nil { sendErrors += 1 } }
        state.sendingDone.store(sendEnd, ordering: .releasing)
        while !readerThread.isFinished { usleep(10_000) }
        pipeline.requestStop()
        outcome.done.wait()
        if let error = outcome.error.withLock({ $0 }) { throw error }
        try? reader.close()

        var sorted = state.samples.withLock { $0 }
        sorted.sort()
        var inputSorted = state.inputSamples.withLock { $0 }
        inputSorted.sort()
        func pct(_ p: Double, _ values: [UInt64]) -> String {
            guard !values.isEmpty else { return "n/a" }
            let i = min(values.count - 1, Int((p / 100 * Double(values.count)).rounded(.up)) - 1)
            return String(format: "%.2f", Double(values[max(0, i)]) / 1e6)
        }
        func pct(_ p: Double) -> String { pct(p, sorted) }
        let offered = Double(tails.count) / (Double(sendEnd - begin) / 1e9)
        print(BenchSupport.row("kafka-lat", [
            ("broker", label.isEmpty ? (bootstrap == nil ? "mock" : bootstrap!) : label),
            ("model", model ? "on" : "off"), ("partitions", "\(partitions)"),
            ("offered", "\(tails.count)"), ("offered_per_s", String(format: "%.0f", offered)),
            ("sent_late_gt_2ms", "\(late)"), ("send_errors", "\(sendErrors)"),
            ("scores", "\(state.scoresSeen.load(ordering: .relaxed))"), ("measured", "\(sorted.count)"),
            ("p50_ms", pct(50)), ("p90_ms", pct(90)), ("p99_ms", pct(99)), ("max_ms", pct(100)),
            ("input_visible_p50_ms", pct(50, inputSorted)), ("input_visible_p99_ms", pct(99, inputSorted)),
        ]))
        let trend = state.perSecond.withLock { $0 }.map { second -> String in
            pct(50, second.sorted())
        }
        print("p50_ms by second of sending: \(trend.joined(separator: " "))")
        let tailTrend = state.perSecond.withLock { $0 }.map { second -> String in
            let sorted = second.sorted()
            return "\(pct(99, sorted))/\(pct(100, sorted))"
        }
        print("p99/max ms by second of sending: \(tailTrend.joined(separator: " "))")
        print("RESULT latency p50_ms=\(pct(50)) p90_ms=\(pct(90)) p99_ms=\(pct(99)) max_ms=\(pct(100))")
    }

    private func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }

    /// `"event_id":"t<ns>-<index>"` → (ns, index).
    static func parseStamp(_ payload: UnsafeRawBufferPointer, prefix: [UInt8]) -> (UInt64, Int)? {
        let n = payload.count, m = prefix.count
        guard n > m else { return nil }
        var i = 0
        search: while i + m < n {
            for j in 0..<m where payload[i + j] != prefix[j] {
                i += 1
                continue search
            }
            var k = i + m
            var sent: UInt64 = 0
            while k < n, payload[k] >= 48, payload[k] <= 57 { sent = sent * 10 + UInt64(payload[k] - 48); k += 1 }
            guard k < n, payload[k] == UInt8(ascii: "-") else { return nil }
            k += 1
            var index = 0
            while k < n, payload[k] >= 48, payload[k] <= 57 { index = index * 10 + Int(payload[k] - 48); k += 1 }
            return (sent, index)
        }
        return nil
    }
}

// MARK: - Metrics that tell the bench when the pipeline is done

/// A `MetricsFactory` that keeps only what the bench needs: events read, outputs acknowledged,
/// and the moment the pipeline reported `read == target` together with zero un-acked outputs
/// (both are recorded by the pipeline thread in that order, once per batch).
final class BenchCounters: MetricsFactory, @unchecked Sendable {
    let target: Int64
    let eventsIn = Atomic<Int64>(0)
    let outputs = Atomic<Int64>(0)
    let doneAt = Atomic<UInt64>(0)
    let firstBatchAt = Atomic<UInt64>(0)

    init(target: Int64) { self.target = target }

    final class Count: CounterHandler, @unchecked Sendable {
        let body: (Int64) -> Void
        init(_ body: @escaping (Int64) -> Void) { self.body = body }
        func increment(by amount: Int64) { body(amount) }
        func reset() {}
    }

    final class Record: RecorderHandler, @unchecked Sendable {
        let body: (Int64) -> Void
        init(_ body: @escaping (Int64) -> Void) { self.body = body }
        func record(_ value: Int64) { body(value) }
        func record(_ value: Double) { body(Int64(value)) }
    }

    final class Ignore: TimerHandler, @unchecked Sendable {
        func recordNanoseconds(_ duration: Int64) {}
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        switch label {
        case PipelineMetrics.Name.eventsIn:
            return Count { [self] amount in
                _ = firstBatchAt.compareExchange(expected: 0, desired: DispatchTime.now().uptimeNanoseconds,
                                                 ordering: .acquiringAndReleasing)
                eventsIn.add(amount, ordering: .acquiringAndReleasing)
            }
        case PipelineMetrics.Name.outputs:
            return Count { [self] amount in outputs.add(amount, ordering: .relaxed) }
        default:
            return Count { _ in }
        }
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard label == PipelineMetrics.Name.unackedOutputs else { return Record { _ in } }
        return Record { [self] value in
            guard value == 0, target >= 0, eventsIn.load(ordering: .acquiring) >= target else { return }
            _ = doneAt.compareExchange(expected: 0, desired: DispatchTime.now().uptimeNanoseconds,
                                       ordering: .acquiringAndReleasing)
        }
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { Ignore() }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}
