import ArgumentParser
import FunnelCore
import FunnelDaemon
import FunnelFuzzSupport
import FunnelKafka
import Foundation
import Logging

/// `funnelpulse-bench hostile`: a deterministic stream of mutated simulated records (bit flips,
/// truncations, insertions, splices, duplicates, NaN/∞/huge prices, out-of-range and far-future
/// timestamps, deep nesting, invalid UTF-8, oversized records; see HostileStream) through the engine
/// with every record checked, then the same kind of stream written to two files and run through
/// `replay`. Unlike the other benchmarks this one checks: it exits non-zero when a record is not
/// accounted for exactly once or a targeted mutation gets another outcome than the defined one.
struct HostileBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hostile",
        abstract: "Mutated records through the engine and replay; fails unless every record is accounted for.")

    @Option(name: .long, help: "Records per run.") var records = 1_000_000
    @Option(name: .long) var seed: UInt64 = 1
    @Option(name: .long, help: "Configuration YAML (engine section).") var config: String?
    @Flag(name: .long, help: "Skip the replay run.") var engineOnly = false
    @Option(name: .long, help: "Directory for the replay files (default: a temporary one, removed).") var workDir: String?
    @Option(name: .long, help: "Produce the stream to this broker instead (for `funnelpulse run`; see scripts/lib/hostile_check.sh).")
    var kafkaBootstrap: String?
    @Option(name: .long, help: "Input topic for --kafka-bootstrap (partition 0).") var kafkaTopic = "hostile-in"
    @Option(name: .long, help: "With --kafka-bootstrap: write the counts the daemon must report (JSON) here.")
    var expectedOut: String?

    func run() throws {
        let cfg = try ConfigLoader.loadConfig(path: config ?? "", environment: [:])
        if let kafkaBootstrap {
            try produce(bootstrap: kafkaBootstrap, config: cfg.engine)
            return
        }
        var failures: [String] = []

        let report: HostileRun.EngineReport
        do {
            report = try HostileRun.engine(records: records, seed: seed, config: cfg.engine)
        } catch {
            print("hostile-engine: invariant violated: \(error.message)")
            throw ExitCode.failure
        }
        let s = report.stats
        var fields: [(String, String)] = [
            ("records", "\(records)"), ("read", "\(s.read)"), ("accepted", "\(s.accepted)"),
            ("duplicates", "\(s.duplicates)"), ("rejected", "\(s.rejectedTotal)"), ("skipped", "\(s.skipped)"),
            ("dead_letters_seen", "\(report.sinkDeadLetters)"), ("snapshots", "\(report.snapshots)"),
            ("scores", "\(report.scores)"), ("seconds", String(format: "%.1f", report.seconds)),
            ("records_per_s", BenchSupport.si(Double(records) / max(report.seconds, 1e-9))),
        ]
        for reason in DeadLetterReason.allCases where s.rejected[Int(reason.rawValue)] > 0 {
            fields.append((reason.name, "\(s.rejected[Int(reason.rawValue)])"))
        }
        print(BenchSupport.row("hostile", fields))
        for mutation in HostileStream.Mutation.allCases {
            guard let fates = report.byMutation[mutation] else { continue }
            let list = fates.sorted { $0.value > $1.value }.map { ("\($0.key)", "\($0.value)") }
            print(BenchSupport.row("  mutation", [("mutation", "\(mutation)")] + list))
        }
        if s.read + s.skipped != records { failures.append("read \(s.read) + skipped \(s.skipped) ≠ \(records) records") }
        if s.accepted + s.duplicates + s.rejectedTotal != s.read { failures.append("accepted + duplicates + rejected ≠ read") }
        if report.sinkDeadLetters != s.rejectedTotal { failures.append("the sink saw \(report.sinkDeadLetters) dead letters, stats say \(s.rejectedTotal)") }
        failures += report.unexpected

        if !engineOnly {
            let dir = workDir ?? FileManager.default.temporaryDirectory
                .appendingPathComponent("fp-hostile-\(UUID().uuidString)").path
            defer { if workDir == nil { try? FileManager.default.removeItem(atPath: dir) } }
            let mapping = try CompiledMapping(.canonicalJSON)
            let r = try HostileRun.replay(records: records, seed: seed &+ 1, directory: dir) { inputs, out in
                _ = try ReplayDriver(options: .init(inputs: inputs, outputDirectory: out, mapping: mapping,
                                                    config: cfg, progress: false)).run()
            }
            print(BenchSupport.row("hostile-file", [
                ("lines", "\(r.lines)"), ("MB", String(format: "%.0f", Double(r.bytes) / 1e6)),
                ("records_read", "\(r.summaryRead)"), ("accepted", "\(r.summaryAccepted)"),
                ("duplicates", "\(r.summaryDuplicates)"), ("rejected", "\(r.summaryRejected)"),
                ("late", "\(r.summaryLate)"), ("deadletter_lines", "\(r.deadLetterLines)"),
                ("write_seconds", String(format: "%.1f", r.writeSeconds)),
                ("replay_seconds", String(format: "%.1f", r.replaySeconds)),
            ]))
            if r.summaryRead != r.lines { failures.append("replay: records_read \(r.summaryRead) ≠ \(r.lines) lines") }
            if r.summarySkipped != 0 { failures.append("replay: \(r.summarySkipped) lines skipped") }
            if r.summaryAccepted + r.summaryDuplicates + r.summaryRejected != r.summaryRead {
                failures.append("replay: accepted + duplicates + rejected ≠ records_read")
            }
            if r.deadLetterLines != r.summaryRejected {
                failures.append("replay: deadletter.jsonl has \(r.deadLetterLines) lines, rejected_total is \(r.summaryRejected)")
            }
            if r.summaryAccepted + r.summaryDuplicates + r.summaryLate != r.decodedEvents {
                failures.append("replay: accepted + duplicates + late ≠ \(r.decodedEvents) decodable lines")
            }
            failures += r.decoderMismatches.map { "replay: \($0)" }
        }
        if !failures.isEmpty {
            for failure in failures.prefix(50) { print("hostile: FAILED: \(failure)") }
            throw ExitCode.failure
        }
        print("hostile: every record accounted for")
    }

    /// Produces `records` records of the stream (any bytes, newlines included: one record per
    /// message) to a two-partition `kafkaTopic`: partition 0 gets the clean and targeted records,
    /// partition 1 the blind mutations (HostileStream's two sources). Decodes every record on its
    /// own to know what a daemon must count whatever order it reads the partitions in: the
    /// decoder's rejections by reason, and the decodable records, which end accepted, duplicate
    /// or late. Writes these to `expectedOut`.
    private func produce(bootstrap: String, config: EngineConfig) throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let producer = try KafkaProducer(configuration: [
            "bootstrap.servers": bootstrap, "linger.ms": "50", "batch.num.messages": "10000",
            "message.max.bytes": "2000000", "queue.buffering.max.messages": "1000000",
            "queue.buffering.max.kbytes": "1048576",
        ], logger: Logger(label: "funnelpulse.bench.hostile"), queueFullRetries: 10_000)
        var decoder = RecordDecoder(mapping: try CompiledMapping(.canonicalJSON))
        var decodable = 0
        var rejected = [Int](repeating: 0, count: DeadLetterReason.allCases.count)
        var bySource = [0, 0]
        var stream = HostileStream(options: HostileStream.Options(seed: seed))
        var record: [UInt8] = []
        record.reserveCapacity(70_000)
        var bytes = 0
        let clock = ContinuousClock()
        let started = clock.now
        for n in 0..<records {
            let mutation = stream.next(into: &record)
            bytes += record.count
            bySource[Int(mutation.source)] += 1
            try record.withUnsafeBytes { buffer in
                try producer.send(topic: kafkaTopic, key: nil, value: buffer, token: UInt64(n), partition: mutation.source)
                switch decoder.decode(buffer) {
                case .event: decodable += 1
                case .rejected(let failure): rejected[Int(failure.reason.rawValue)] += 1
                case .skipped: break
                }
            }
            if n % 1000 == 999 {
                producer.poll(timeoutMilliseconds: 0)
                producer.drainDeliveryReports { _, _ in }
            }
        }
        try producer.flush(timeoutMilliseconds: 300_000)
        var failed = 0
        producer.drainDeliveryReports { _, error in if error != nil { failed += 1 } }
        let elapsed = clock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        var byReason: [String: Int] = [:]
        for reason in DeadLetterReason.allCases where rejected[Int(reason.rawValue)] > 0 {
            byReason[reason.name] = rejected[Int(reason.rawValue)]
        }
        print(BenchSupport.row("hostile-in", [
            ("records", "\(records)"), ("partition0", "\(bySource[0])"), ("partition1", "\(bySource[1])"),
            ("MB", String(format: "%.0f", Double(bytes) / 1e6)), ("not_acked", "\(failed)"),
            ("decodable", "\(decodable)"), ("decoder_rejected", "\(rejected.reduce(0, +))"),
            ("produce_seconds", String(format: "%.1f", seconds)),
        ]))
        guard failed == 0 else {
            print("hostile-kafka: FAILED: \(failed) records not acknowledged by the broker")
            throw ExitCode.failure
        }
        if let expectedOut {
            let expected: [String: Any] = ["records": records, "decodable": decodable, "decoder_rejected": byReason]
            let data = try JSONSerialization.data(withJSONObject: expected, options: [.sortedKeys])
            try data.write(to: URL(fileURLWithPath: expectedOut))
        }
    }
}
