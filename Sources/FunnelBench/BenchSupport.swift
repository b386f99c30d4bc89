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
        buffer.reset()
        ScoreRecord.encode(score, event: event, record: record, names: scoreNames, into: &buffer)
        scores += 1
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

    static func batches(_ text: String) throws -> [Int] {
        let sizes = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !sizes.isEmpty, sizes.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("--batch: positive integers separated by commas, got '\(text)'")
        }
        return sizes.compactMap { $0 }
    }

    static func engineRuns(label: String, lines: LineSet, mapping: CompiledMapping, config: EngineConfig,
                           runs: Int, batches: [Int] = [EngineBatch.defaultCapacity]) throws {
        var best: [Int: Double] = [:]
        for run in 0..<max(1, runs) {
            var engine = try Engine(config: config)
            var decoder = RecordDecoder(mapping: mapping)
            decoder.startSource()
            var sink = CountingSink()
            if let model = engine.model {
                sink.scoreNames = ScoreRecord.Names(features: model.features.names, steps: model.quality.stepNames)
            }
            var n: Int64 = 0
            var batch = EngineBatch(capacity: batches[run % batches.count])
            let seconds = time {
                lines.forEach { line in
                    n += 1
                    batch.append(line, at: SourcePosition(source: 0, offset: n))
                    if batch.isFull { engine.process(&batch, decoder: &decoder, sink: &sink) }
                }
                engine.process(&batch, decoder: &decoder, sink: &sink)
                engine.finish(sink: &sink)
            }
            let rate = Double(lines.count) / seconds
            best[batch.capacity] = max(best[batch.capacity] ?? 0, rate)
            print(row("engine", [
                ("input", label), ("run", "\(run + 1)"), ("batch", "\(batch.capacity)"), ("events", "\(engine.stats.read)"),
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
