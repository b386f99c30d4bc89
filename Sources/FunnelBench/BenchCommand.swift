import ArgumentParser
import FunnelCore
import FunnelDaemon
import Foundation

/// `funnelpulse-bench`: prints throughput and memory figures. Not a test: nothing here asserts.
@main
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "funnelpulse-bench",
        abstract: "FunnelPulse benchmarks: decode and end-to-end engine throughput, bytes per user.",
        subcommands: [DecodeBench.self, EngineBench.self, SimulatedBench.self, KafkaBench.self, AlertsBench.self, FloodBench.self, CheckpointBench.self,
                      HostileBench.self, HandoverBench.self])
}

struct InputOptions: ParsableArguments {
    @Option(name: .long, help: "Input file (JSON lines or CSV).")
    var input: String

    @Option(name: .long, help: "Mapping YAML (default: built-in JSON mapping).")
    var mapping: String?

    @Option(name: .long, help: "Configuration YAML (engine section).")
    var config: String?

    @Option(name: .long, help: "Repetitions; the best is reported.")
    var runs: Int = 3

    @Option(name: .long, help: ArgumentHelp(BenchSupport.batchHelp))
    var batch: String = "\(EngineBatch.defaultCapacity)"

    @Flag(name: .long, help: ArgumentHelp(BenchSupport.breakdownHelp))
    var breakdown = false
}

struct DecodeBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "decode", abstract: "Decode-only throughput.")
    @OptionGroup var options: InputOptions

    func run() throws {
        let mapping = try BenchSupport.mapping(options.mapping)
        let lines = try LineSet(path: options.input)
        var best = 0.0
        var accepted = 0
        for _ in 0..<max(1, options.runs) {
            var decoder = RecordDecoder(mapping: mapping)
            decoder.startSource()
            var ok = 0
            let seconds = BenchSupport.time {
                lines.forEach { line in
                    if case .event = decoder.decode(line) { ok &+= 1 }
                }
            }
            accepted = ok
            best = max(best, Double(lines.count) / seconds)
        }
        print(BenchSupport.row("decode", [
            ("input", (options.input as NSString).lastPathComponent), ("records", "\(lines.count)"),
            ("decoded", "\(accepted)"), ("events_per_s", BenchSupport.si(best)),
            ("MB_per_s", String(format: "%.0f", best * Double(lines.bytes) / Double(max(lines.count, 1)) / 1e6)),
        ]))
    }
}

struct EngineBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine", abstract: "End-to-end engine throughput on a file held in memory.")
    @OptionGroup var options: InputOptions

    func run() throws {
        let mapping = try BenchSupport.mapping(options.mapping)
        let config = try ConfigLoader.loadConfig(path: options.config ?? "", environment: [:])
        let lines = try LineSet(path: options.input)
        let label = (options.input as NSString).lastPathComponent
        let batches = try BenchSupport.batches(options.batch)
        try BenchSupport.engineRuns(label: label, lines: lines, mapping: mapping, config: config.engine,
                                    runs: options.runs, batches: batches, breakdown: options.breakdown)
    }
}

struct SimulatedBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulated", abstract: "Simulate a stream into memory, then run the engine over it.")

    @Option(name: .long) var events: Int = 10_000_000
    @Option(name: .long) var users: Int = 1_000_000
    @Option(name: .long) var seed: UInt64 = 1
    @Option(name: .long, help: "Simulated span in hours.") var hours: Double = 24
    @Option(name: .long, help: "Configuration YAML (engine section).") var config: String?
    @Option(name: .long) var runs: Int = 2
    @Option(name: .long, help: ArgumentHelp(BenchSupport.batchHelp))
    var batch: String = "\(EngineBatch.defaultCapacity)"
    @Flag(name: .long, help: ArgumentHelp(BenchSupport.breakdownHelp))
    var breakdown = false

    func run() throws {
        var sim = SimulatorConfig()
        sim.events = events
        sim.users = users
        sim.seed = seed
        sim.duration = Int64(hours * 3_600_000)
        var simulator = Simulator(config: sim)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(events * 260)
        var offsets: [Int] = [0]
        offsets.reserveCapacity(events + 1)
        let genSeconds = BenchSupport.time {
            while simulator.next(into: &buffer) { offsets.append(buffer.count) }
        }
        print(BenchSupport.row("simulate", [
            ("events", "\(offsets.count - 1)"), ("users", "\(users)"),
            ("events_per_s", BenchSupport.si(Double(offsets.count - 1) / genSeconds)),
            ("MB", String(format: "%.0f", Double(buffer.count) / 1e6)),
        ]))
        let cfg = try ConfigLoader.loadConfig(path: config ?? "", environment: [:])
        let lines = LineSet(bytes: buffer, offsets: offsets)
        let mapping = try CompiledMapping(.canonicalJSON)
        var bestDecode = 0.0
        for _ in 0..<max(1, runs) {
            var decoder = RecordDecoder(mapping: mapping)
            var ok = 0
            let seconds = BenchSupport.time {
                lines.forEach { line in
                    if case .event = decoder.decode(line) { ok &+= 1 }
                }
            }
            bestDecode = max(bestDecode, Double(lines.count) / seconds)
        }
        print(BenchSupport.row("decode", [
            ("input", "simulated JSON"), ("records", "\(lines.count)"), ("events_per_s", BenchSupport.si(bestDecode)),
            ("MB_per_s", String(format: "%.0f", bestDecode * Double(lines.bytes) / Double(max(lines.count, 1)) / 1e6)),
        ]))
        let batches = try BenchSupport.batches(batch)
        try BenchSupport.engineRuns(label: "simulated", lines: lines, mapping: mapping,
                                    config: cfg.engine, runs: runs, batches: batches, breakdown: breakdown)
    }
}
