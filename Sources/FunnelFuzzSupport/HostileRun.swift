import Foundation
import FunnelCore

/// Runs a ``HostileStream`` through a checked engine, or writes it as files for `replay`, and
/// reports what became of every record. Shared by the hostile-input tests and
/// `funnelpulse-bench hostile`.
public enum HostileRun {
    public struct EngineReport: Sendable {
        public var stats = EngineStats()
        public var sinkDeadLetters = 0
        public var sinkDeadLettersByReason: [Int] = []
        public var snapshots = 0
        public var scores = 0
        /// Fates by mutation kind.
        public var byMutation: [HostileStream.Mutation: [RecordFate: Int]] = [:]
        /// Records whose targeted mutation did not get its expected fate (at most 100 kept).
        public var unexpected: [String] = []
        public var seconds = 0.0
    }

    /// `records` records of the stream with `seed` through a fresh engine with `config`, every
    /// record checked (``CheckedEngine``), then `finish`.
    public static func engine(records: Int, seed: UInt64, config: EngineConfig = EngineConfig(),
                              progress: ((Int) -> Void)? = nil) throws(InvariantViolation) -> EngineReport {
        let mapping: CompiledMapping
        do {
            mapping = try CompiledMapping(.canonicalJSON)
        } catch {
            throw InvariantViolation("canonical mapping: \(error)")
        }
        var run = try CheckedEngine(config: config, mapping: mapping)
        var stream = HostileStream(options: HostileStream.Options(seed: seed))
        var report = EngineReport()
        var record: [UInt8] = []
        record.reserveCapacity(70_000)
        var counts = [[RecordFate: Int]](repeating: [:], count: HostileStream.Mutation.allCases.count)
        let clock = ContinuousClock()
        let started = clock.now
        for n in 0..<records {
            let mutation = stream.next(into: &record)
            var violation: InvariantViolation?
            var fate = RecordFate.skipped
            record.withUnsafeBytes { buffer in
                do throws(InvariantViolation) {
                    fate = try run.record(buffer, source: mutation.source, offset: Int64(n + 1))
                } catch {
                    violation = error
                }
            }
            if let violation {
                throw InvariantViolation("record \(n + 1) (\(mutation)): \(violation.message)")
            }
            counts[mutation.rawValue][fate, default: 0] += 1
            if let expected = mutation.expected, !expected.contains(fate), report.unexpected.count < 100 {
                report.unexpected.append("record \(n + 1) (\(mutation)): \(fate), expected \(expected.map(\.description).sorted())")
            }
            if let progress, (n + 1) % 100_000 == 0 { progress(n + 1) }
        }
        try run.end()
        report.seconds = seconds(clock.now - started)
        report.stats = run.stats
        report.sinkDeadLetters = run.sinkDeadLetters
        report.sinkDeadLettersByReason = run.sinkDeadLettersByReason
        report.snapshots = run.snapshots
        report.scores = run.scores
        for mutation in HostileStream.Mutation.allCases where !counts[mutation.rawValue].isEmpty {
            report.byMutation[mutation] = counts[mutation.rawValue]
        }
        return report
    }

    public struct ReplayReport: Sendable {
        /// Lines written (both files).
        public var lines = 0
        public var bytes = 0
        public var summaryRead = 0
        public var summaryAccepted = 0
        public var summaryDuplicates = 0
        public var summarySkipped = 0
        public var summaryRejected = 0
        public var summaryLate = 0
        public var summaryByReason: [String: Int] = [:]
        public var deadLetterLines = 0
        /// Events a standalone decode of every line gives (order-independent).
        public var decodedEvents = 0
        /// Decoder-level reasons whose counts differ between summary.json and the standalone decode.
        public var decoderMismatches: [String] = []
        public var writeSeconds = 0.0
        public var replaySeconds = 0.0
    }

    /// Writes the stream as two JSON-lines files in `directory` (`targeted.jsonl`: source 0,
    /// `blind.jsonl`: source 1), runs `replay(inputs, outputDirectory)` (the caller's
    /// `ReplayDriver`) and reads back `summary.json` and `deadletter.jsonl`.
    public static func replay(records: Int, seed: UInt64, directory: String,
                              replay: (_ inputs: [String], _ outputDirectory: String) throws -> Void) throws -> ReplayReport {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let inputs = [directory + "/targeted.jsonl", directory + "/blind.jsonl"]
        let out = directory + "/out"
        var files: [[UInt8]] = [[], []]
        var options = HostileStream.Options(seed: seed)
        options.lineSafe = true
        var stream = HostileStream(options: options)
        var decoder = RecordDecoder(mapping: try CompiledMapping(.canonicalJSON))
        var report = ReplayReport()
        var decoded = [Int](repeating: 0, count: DeadLetterReason.allCases.count)
        var record: [UInt8] = []
        let clock = ContinuousClock()
        var started = clock.now
        for _ in 0..<records {
            let mutation = stream.next(into: &record)
            record.append(0x0A)
            switch record.withUnsafeBytes({ decoder.decode($0) }) {
            case .event: report.decodedEvents += 1
            case .rejected(let failure): decoded[Int(failure.reason.rawValue)] += 1
            case .skipped: break
            }
            files[Int(mutation.source)].append(contentsOf: record)
            report.lines += 1
        }
        for (path, bytes) in zip(inputs, files) {
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
                throw InvariantViolation("cannot write \(path)")
            }
            report.bytes += bytes.count
        }
        files = []
        report.writeSeconds = seconds(clock.now - started)

        started = clock.now
        try replay(inputs, out)
        report.replaySeconds = seconds(clock.now - started)

        let data = try Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))
        guard let summary = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw InvariantViolation("summary.json is not an object")
        }
        func int(_ key: String) -> Int { (summary[key] as? Int) ?? -1 }
        report.summaryRead = int("records_read")
        report.summaryAccepted = int("events_accepted")
        report.summaryDuplicates = int("duplicates_dropped")
        report.summarySkipped = int("lines_skipped")
        report.summaryRejected = int("rejected_total")
        report.summaryByReason = (summary["rejected"] as? [String: Int]) ?? [:]
        report.summaryLate = report.summaryByReason[DeadLetterReason.late.name] ?? 0
        let deadLetters = try Data(contentsOf: URL(fileURLWithPath: out + "/deadletter.jsonl"))
        report.deadLetterLines = deadLetters.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        for reason in DeadLetterReason.allCases where reason != .late {
            let inSummary = report.summaryByReason[reason.name] ?? 0
            if inSummary != decoded[Int(reason.rawValue)] {
                report.decoderMismatches.append("\(reason.name): summary \(inSummary), decoded \(decoded[Int(reason.rawValue)])")
            }
        }
        return report
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
