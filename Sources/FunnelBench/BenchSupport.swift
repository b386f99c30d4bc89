import ArgumentParser
import FunnelCore
import FunnelDaemon
import Foundation

/// Lines of a file held in memory, so benchmarks measure the engine, not the disk.
struct LineSet {
    let storage: [UInt8]
    let offsets: [Int]
    var count: Int { offsets.count - 1 }
    var bytes: Int { storage.count }

    init(bytes: [UInt8], offsets: [Int]) {
        storage = bytes
        self.offsets = offsets
    }

    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Commands.Failure("cannot read \(path)")
        }
        storage = [UInt8](data)
        var offs = [0]
        storage.withUnsafeBufferPointer { p in
            for i in 0..<p.count where p[i] == 0x0A { offs.append(i + 1) }
        }
        if offs.last != storage.count { offs.append(storage.count) }
        offsets = offs
    }

    func forEach(_ body: (UnsafeRawBufferPointer) -> Void) {
        storage.withUnsafeBytes { all in
            for i in 0..<(offsets.count - 1) {
                body(UnsafeRawBufferPointer(rebasing: all[offsets[i]..<offsets[i + 1]]))
            }
        }
    }
}

/// Encodes every output (as the daemon would) but writes nothing.
struct CountingSink: EngineSink {
    var buffer = JSONBuffer(capacity: 4096)
    /// Off: scores are counted, not encoded (to measure what their JSON costs).
    var encodesScores = true
    var scoreNames = ScoreRecord.Names()
    var deadLetters = 0
    var snapshots = 0
    var scores = 0
    var outputBytes = 0

    mutating func deadLetter(_ failure: DecodeFailure, record: UnsafeRawBufferPointer, position: SourcePosition) {
        buffer.reset()
        OutputRecords.encodeDeadLetter(failure, record: record, source: .file("bench", line: position.offset),
                                       into: &buffer)
        deadLetters += 1
        outputBytes &+= buffer.bytes.count
    }

    mutating func snapshot(_ snapshot: FunnelSnapshot) {
        buffer.reset()
        OutputRecords.encode(snapshot, into: &buffer)
        snapshots += 1
        outputBytes &+= buffer.bytes.count
    }

    mutating func score(_ score: ModelScore, event: Event, record: UnsafeRawBufferPointer, position: SourcePosition) {
        scores += 1
        guard encodesScores else { return }
        buffer.reset()
        ScoreRecord.encode(score, event: event, record: record, names: scoreNames, into: &buffer)
        outputBytes &+= buffer.bytes.count
    }
}

enum BenchSupport {
    static func mapping(_ path: String?) throws -> CompiledMapping {
        if let path { return try ConfigLoader.loadMapping(path: path) }
        return try CompiledMapping(.canonicalJSON)
    }

    static func time(_ body: () -> Void) -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        body()
        let d = clock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    static let batchHelp = """
        Records per engine batch (1: one record at a time), or a comma-separated list cycled over \
        the runs, to compare batch sizes in one process.
        """

    static let breakdownHelp = """
        Instead of the usual rows: the engine as configured, with its scores not encoded, with the \
        model off and with the alerts off, alternating, and what each part costs per event.
        """

    static func batches(_ text: String) throws -> [Int] {
        let sizes = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !sizes.isEmpty, sizes.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("--batch: positive integers separated by commas, got '\(text)'")
        }
        return sizes.compactMap { $0 }
    }

    /// One pass of a fresh engine over `lines`: seconds taken, the engine and the sink after it.
    static func engineRun(lines: LineSet, mapping: CompiledMapping, config: EngineConfig, batch size: Int,
                          encodesScores: Bool = true) throws -> (seconds: Double, engine: Engine, sink: CountingSink) {
        var engine = try Engine(config: config)
        var decoder = RecordDecoder(mapping: mapping)
        decoder.startSource()
        var sink = CountingSink()
        sink.encodesScores = encodesScores
        if let model = engine.model {
            sink.scoreNames = ScoreRecord.Names(features: model.features.names, steps: model.quality.stepNames)
        }
        var n: Int64 = 0
        var batch = EngineBatch(capacity: size)
        let seconds = time {
            lines.forEach { line in
                n += 1
                batch.append(line, at: SourcePosition(source: 0, offset: n))
                if batch.isFull { engine.process(&batch, decoder: &decoder, sink: &sink) }
            }
            engine.process(&batch, decoder: &decoder, sink: &sink)
            engine.finish(sink: &sink)
        }
        return (seconds, engine, sink)
    }

    /// The engine rows (best rate per batch size, then the checkpoint row), or with `breakdown`
    /// the ``breakdownRuns(label:lines:mapping:config:runs:batch:)`` rows at the first batch size.
    static func engineRuns(label: String, lines: LineSet, mapping: CompiledMapping, config: EngineConfig,
                           runs: Int, batches: [Int] = [EngineBatch.defaultCapacity], breakdown: Bool = false) throws {
        if breakdown {
            try breakdownRuns(label: label, lines: lines, mapping: mapping, config: config, runs: runs,
                              batch: batches.first ?? EngineBatch.defaultCapacity)
            return
        }
        var best: [Int: Double] = [:]
        for run in 0..<max(1, runs) {
            let size = batches[run % batches.count]
            let (seconds, engine, sink) = try engineRun(lines: lines, mapping: mapping, config: config, batch: size)
            let rate = Double(lines.count) / seconds
            best[size] = max(best[size] ?? 0, rate)
            print(row("engine", [
                ("input", label), ("run", "\(run + 1)"), ("batch", "\(size)"), ("events", "\(engine.stats.read)"),
                ("accepted", "\(engine.stats.accepted)"), ("rejected", "\(engine.stats.rejectedTotal)"),
                ("users", "\(engine.users.count)"), ("evicted", "\(engine.users.evictedIdle + engine.users.evictedCapacity)"),
                ("scores", "\(sink.scores)"), ("snapshots", "\(sink.snapshots)"),
                ("seconds", String(format: "%.2f", seconds)), ("events_per_s", si(rate)),
                ("state_bytes_per_user", String(format: "%.0f", engine.users.stateBytesPerUser)),
                ("used_bytes_per_user", String(format: "%.0f", engine.users.bytesPerUser)),
                ("rss_MB", String(format: "%.0f", Double(residentBytes()) / 1e6)),
            ]))
        }
        for size in best.keys.sorted(by: >) {
            print(row("engine-best", [("input", label), ("batch", "\(size)"), ("events_per_s", si(best[size] ?? 0))]))
        }
        try checkpointRow(label: label, lines: lines, mapping: mapping, config: config)
    }

    /// Where an event's time goes: the engine as configured, then with parts switched off one at a
    /// time, the variants alternating within each round so that all see the same machine noise.
    /// Prints each variant's best rate and time per event, and the difference to the full engine:
    /// what the part switched off costs per event.
    static func breakdownRuns(label: String, lines: LineSet, mapping: CompiledMapping, config: EngineConfig,
                              runs: Int, batch: Int) throws {
        var noModel = config
        noModel.model.enabled = false
        var noAlerts = config
        noAlerts.alerts.enabled = false
        var variants: [(name: String, config: EngineConfig, encodesScores: Bool)] = [("full", config, true)]
        if config.model.enabled {
            variants.append(("scores_not_encoded", config, false))
            variants.append(("model_off", noModel, true))
        }
        if config.alerts.enabled { variants.append(("alerts_off", noAlerts, true)) }
        var best = [Double](repeating: .infinity, count: variants.count)
        for _ in 0..<max(1, runs) {
            for (v, variant) in variants.enumerated() {
                let run = try engineRun(lines: lines, mapping: mapping, config: variant.config, batch: batch,
                                        encodesScores: variant.encodesScores)
                best[v] = min(best[v], run.seconds)
            }
        }
        let perEvent = best.map { $0 / Double(max(lines.count, 1)) * 1e6 }
        for (v, variant) in variants.enumerated() {
            print(row("breakdown", [
                ("input", label), ("variant", variant.name), ("runs", "\(max(1, runs))"),
                ("events_per_s", si(Double(lines.count) / best[v])),
                ("us_per_event", String(format: "%.3f", perEvent[v])),
                ("us_saved_vs_full", String(format: "%.3f", perEvent[0] - perEvent[v])),
            ]))
        }
    }

    /// Size and time of an engine checkpoint after the whole input, and of restoring it.
    static func checkpointRow(label: String, lines: LineSet, mapping: CompiledMapping, config: EngineConfig) throws {
        var engine = try Engine(config: config)
        var decoder = RecordDecoder(mapping: mapping)
        decoder.startSource()
        var sink = CountingSink()
        var n: Int64 = 0
        lines.forEach { line in
            n += 1
            engine.process(line, decoder: &decoder, at: SourcePosition(source: 0, offset: n), sink: &sink)
        }
        var bytes: [UInt8] = []
        var failure: (any Error)?
        let write = time {
            do { bytes = try engine.checkpoint() } catch { failure = error }
        }
        if let failure { throw failure }
        var restoredUsers = 0
        let read = time {
            do { restoredUsers = try Engine(config: config, checkpoint: bytes).users.count } catch { failure = error }
        }
        if let failure { throw failure }
        print(row("checkpoint", [
            ("input", label), ("users", "\(engine.users.count)"), ("restored_users", "\(restoredUsers)"),
            ("MB", String(format: "%.1f", Double(bytes.count) / 1e6)),
            ("bytes_per_user", String(format: "%.0f", Double(bytes.count) / Double(max(engine.users.count, 1)))),
            ("write_s", String(format: "%.2f", write)), ("restore_s", String(format: "%.2f", read)),
        ]))
    }

    /// Resident set size from /proc/self/statm.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let parts = text.split(separator: " ")
        guard parts.count > 1, let pages = Int(parts[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func si(_ value: Double) -> String {
        value >= 1e6 ? String(format: "%.2fM", value / 1e6) : String(format: "%.0fk", value / 1e3)
    }

    static func row(_ name: String, _ fields: [(String, String)]) -> String {
        "\(name.padding(toLength: 12, withPad: " ", startingAt: 0)) " + fields.map { "\($0)=\($1)" }.joined(separator: " ")
    }
}

/// CPU time of this process's threads (user + system, from /proc/self/task/*/stat), grouped by
/// thread name: what a measured window cost in CPU, and which threads spent it.
struct ThreadCPU {
    /// Seconds per thread name (threads of the same name summed).
    var seconds: [String: Double] = [:]

    var total: Double { seconds.values.reduce(0, +) }

    static func sample() -> ThreadCPU {
        var out = ThreadCPU()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        guard ticks > 0, let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else {
            return out
        }
        for task in tasks {
            guard let text = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
                  let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")")
            else { continue }
            let name = String(text[text.index(after: open)..<close])
            // After the name: state is field 3, utime field 14, stime field 15.
            let fields = text[text.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            out.seconds[name, default: 0] += (user + system) / ticks
        }
        return out
    }

    /// What `later` spent since `self`, per name (threads started in between count from zero).
    func until(_ later: ThreadCPU) -> ThreadCPU {
        var out = ThreadCPU()
        for (name, value) in later.seconds { out.seconds[name] = max(0, value - (seconds[name] ?? 0)) }
        return out
    }

    /// `name:seconds` pairs, largest first, those under 10 ms left out.
    var summary: String {
        seconds.filter { $0.value >= 0.01 }.sorted { $0.value > $1.value }
            .map { "\($0.key.replacingOccurrences(of: " ", with: "_")):\(String(format: "%.2f", $0.value))" }
            .joined(separator: ",")
    }
}
