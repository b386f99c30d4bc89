import ArgumentParser
import FunnelCore
import FunnelDaemon
import Foundation

/// `funnelpulse-bench flood`: a flood of distinct user ids (every event a new user, new event id,
/// new ip) through the engine with its default state caps, printing resident memory against users
/// tracked as it goes. Memory must level off at the `max_users` cap (plus the fixed-size tables:
/// dedupe, pending labels, model), with the evictions counted.
struct FloodBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flood", abstract: "RSS against users tracked under a flood of distinct user ids.")

    @Option(name: .long, help: "Events, each from a distinct user.") var events = 10_000_000
    @Option(name: .long, help: "engine.max_users for the run.") var maxUsers = 1_000_000
    @Option(name: .long, help: "engine.memory_limit_mb for the run (max_users is lowered to what fits).")
    var memoryLimitMb: Int?
    @Option(name: .long, help: "Configuration YAML (engine section); --max-users overrides it.") var config: String?
    @Option(name: .long, help: "Print a row every this many events.") var every = 1_000_000

    func run() throws {
        var engineConfig = try ConfigLoader.loadConfig(path: config ?? "", environment: [:]).engine
        engineConfig.maxUsers = maxUsers
        engineConfig.memoryLimitMB = memoryLimitMb
        let processStart = BenchSupport.residentBytes()
        var engine = try Engine(config: engineConfig)
        let budget = MemoryBudget(config: engineConfig)
        let mib = { (bytes: Int) in String(format: "%.0f", Double(bytes) / 1_048_576) }
        print(BenchSupport.row("flood-budget", [
            ("memory_limit_MiB", memoryLimitMb.map { "\($0)" } ?? "none"),
            ("effective_max_users", "\(engineConfig.effectiveMaxUsers)"),
            ("bound_MiB", mib(budget.bytes(users: engineConfig.effectiveMaxUsers))),
        ] + budget.fixed.map { ("\($0.name)_MiB", mib($0.bytes)) }
          + [("bytes_per_user_bound", "\(budget.bytesPerUser)")]))
        var peakRSS = 0
        var decoder = RecordDecoder(mapping: try CompiledMapping(.canonicalJSON))
        decoder.startSource()
        var sink = CountingSink()
        let types = ["page", "view", "view", "search", "cart"]
        var line: [UInt8] = []
        line.reserveCapacity(256)
        let start: Int64 = 1_704_067_200_000
        let baseline = BenchSupport.residentBytes()
        print(BenchSupport.row("flood-start", [
            ("max_users", "\(maxUsers)"), ("model", "\(engineConfig.model.enabled)"),
            ("pending_capacity", "\(engineConfig.model.pendingCapacity)"),
            ("dedupe_capacity", "\(engineConfig.dedupeCapacity)"),
            ("rss_MB", String(format: "%.0f", Double(baseline) / 1e6)),
        ]))
        let clock = ContinuousClock()
        let t0 = clock.now
        for n in 0..<events {
            line.removeAll(keepingCapacity: true)
            let ip = "10.\(n >> 16 & 255).\(n >> 8 & 255).\(n & 255)"
            line.append(contentsOf: #"{"event_id":"e\#(n)","user_id":"flood-\#(n)","type":"\#(types[n % 5])","ts":\#(start + Int64(n)),"item_id":"i\#(n % 5000)","device":"mobile","ip":"\#(ip)"}"#.utf8)
            line.withUnsafeBytes {
                engine.process($0, decoder: &decoder, at: SourcePosition(source: 0, offset: Int64(n)), sink: &sink)
            }
            if (n + 1) % every == 0 || n + 1 == events {
                let elapsed = clock.now - t0
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let rss = BenchSupport.residentBytes()
                peakRSS = max(peakRSS, rss)
                print(BenchSupport.row("flood", [
                    ("events", "\(n + 1)"), ("users_tracked", "\(engine.users.count)"),
                    ("evicted_capacity", "\(engine.users.evictedCapacity)"),
                    ("pending_labels", "\(engine.model?.pending.count ?? 0)"),
                    ("open_attempts", "\(engine.funnels.openAttempts)"),
                    ("attempts_evicted", "\(engine.funnels.evictedAttempts)"),
                    ("open_carts", "\(engine.alerts?.carts.openCarts ?? 0)"),
                    ("rss_MB", String(format: "%.0f", Double(rss) / 1e6)),
                    ("rss_bytes_per_tracked_user", String(format: "%.0f", Double(rss - baseline) / Double(max(engine.users.count, 1)))),
                    ("events_per_s", BenchSupport.si(Double(n + 1) / seconds)),
                ]))
            }
        }
        // Resident memory includes the process itself (code, runtime, the bench's own buffers):
        // `peak − RSS before the engine was created` is what the engine's state took.
        if let limit = memoryLimitMb {
            let engineRSS = peakRSS - processStart
            print(BenchSupport.row("flood-limit", [
                ("memory_limit_MiB", "\(limit)"), ("peak_rss_MiB", mib(peakRSS)),
                ("rss_before_engine_MiB", mib(processStart)), ("engine_rss_MiB", mib(engineRSS)),
                ("within_limit", engineRSS <= limit * 1_048_576 ? "yes" : "NO"),
            ]))
        }
    }
}
