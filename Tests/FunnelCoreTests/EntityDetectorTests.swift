import Foundation  // tests only: JSONDecoder for the configuration round trip
import Testing

@testable import FunnelCore

/// Drives an ``EntityDetector`` from an engine's accepted events, as the alert engine will.
private struct DetectorSink: EngineSink {
    var detector: EntityDetector
    var alerts: [Alert] = []

    mutating func deadLetter(_ failure: DecodeFailure, record: UnsafeRawBufferPointer, position: SourcePosition) {}
    var observesAccepted: Bool { true }
    mutating func accepted(_ event: Event, context: EventContext, engine: borrowing Engine,
                           record: UnsafeRawBufferPointer, position: SourcePosition) {
        var fired: [Alert] = []
        detector.observe(event, context: context, user: engine.users[context.userSlot], record: record) {
            fired.append($0)
        }
        alerts += fired
    }
    mutating func snapshot(_ snapshot: FunnelSnapshot) {}
}

/// Runs JSON lines through an engine and the detector; returns the alerts and the detector.
private func detect(_ lines: [String], config: EntityAlertConfig = EntityAlertConfig(),
                    engineConfig: EngineConfig = EngineConfig()) throws -> (alerts: [Alert], detector: EntityDetector) {
    try config.validate(path: "alerts.entities")
    var engine = try Engine(config: engineConfig)
    var decoder = RecordDecoder(mapping: try CompiledMapping(.canonicalJSON))
    var sink = DetectorSink(detector: EntityDetector(config: config, windowSeconds: engineConfig.windowSeconds))
    for (i, line) in lines.enumerated() {
        (Array(line.utf8) + [0x0A]).withUnsafeBytes {
            engine.process($0, decoder: &decoder, at: SourcePosition(source: 0, offset: Int64(i + 1)), sink: &sink)
        }
    }
    return (sink.alerts, sink.detector)
}

/// One event line with an ip and user agent (by default the user's own, so the shared-entity
/// rules stay quiet).
private func line(_ user: String, _ type: String, _ seconds: Double, item: String? = nil, ip: String? = nil,
                  agent: String? = nil) -> String {
    jsonEvent(user, type, seconds, item: item,
              extra: "\"ip\":\"\(ip ?? "ip-" + user)\",\"user_agent\":\"\(agent ?? "ua-" + user)\"")
}

private func alerts(_ all: [Alert], _ kind: AlertKind) -> [Alert] { all.filter { $0.kind == kind } }

private func evidence(_ alert: Alert, _ name: String) -> Double? { alert.evidence.first { $0.name == name }?.value }

/// `count` events `gap` seconds apart from `start`.
private func burst(_ user: String, _ type: String = "view", count: Int, start: Double, gap: Double,
                   item: String? = nil, ip: String? = nil, agent: String? = nil) -> [String] {
    (0..<count).map { line(user, type, start + Double($0) * gap, item: item, ip: ip, agent: agent) }
}

@Suite("Entity anomaly / fraud detector")
struct EntityDetectorTests {
    // MARK: - Rules fire on their pattern and not on a near miss

    @Test func velocityFiresAtTheThresholdOnly() throws {
        let (hit, _) = try detect(burst("fast", count: 60, start: base, gap: 0.5))
        let fired = alerts(hit, .velocity)
        #expect(fired.count == 1)
        let alert = try #require(fired.first)
        #expect(alert.id == "velocity:user:fast")
        #expect(alert.state == .firing && alert.severity == .warning)
        #expect(alert.entityType == "user" && alert.entity == "fast")
        #expect(alert.time == Int64((base + 59 * 0.5) * 1_000_000) && alert.since == alert.time)
        #expect(evidence(alert, "events_per_minute") == 60)
        #expect(!alert.message.isEmpty)

        let (miss, _) = try detect(burst("fast", count: 59, start: base, gap: 0.5))
        #expect(alerts(miss, .velocity).isEmpty)
    }

    @Test func cartBurstCountsCartsInTheFiveMinuteWindow() throws {
        let (hit, _) = try detect(burst("carter", "cart", count: 15, start: base, gap: 10, item: "i1"))
        let alert = try #require(alerts(hit, .cartBurst).first)
        #expect(alert.id == "cart_burst:user:carter")
        #expect(evidence(alert, "carts") == 15 && evidence(alert, "window_seconds") == 300)

        let (miss, _) = try detect(burst("carter", "cart", count: 14, start: base, gap: 10, item: "i1"))
        #expect(alerts(miss, .cartBurst).isEmpty)
        // Fifteen carts spread over half an hour are no burst.
        let (slow, _) = try detect(burst("carter", "cart", count: 15, start: base, gap: 120, item: "i1"))
        #expect(alerts(slow, .cartBurst).isEmpty)
    }

    @Test func checkoutWithoutViewNeedsRepeatedAttemptsAndNoView() throws {
        let attempts = EntityAlertConfig().checkoutWithoutView.attempts
        let (hit, _) = try detect(burst("tester", "checkout", count: attempts, start: base, gap: 5, item: "i9"))
        let alert = try #require(alerts(hit, .checkoutWithoutView).first)
        #expect(alert.severity == .critical)
        #expect(alert.id == "checkout_without_view:user:tester")
        #expect(evidence(alert, "attempts") == Double(attempts) && evidence(alert, "views") == 0)
        #expect(alert.time == Int64((base + Double(attempts - 1) * 5) * 1_000_000))

        let (fewer, _) = try detect(burst("tester", "checkout", count: attempts - 1, start: base, gap: 5, item: "i9"))
        #expect(alerts(fewer, .checkoutWithoutView).isEmpty)
        let viewed = [line("shopper", "view", base - 60, item: "i9")]
            + burst("shopper", "checkout", count: attempts + 2, start: base, gap: 5, item: "i9")
        #expect(alerts(try detect(viewed).alerts, .checkoutWithoutView).isEmpty)
    }

    @Test func fastPurchaseAfterArrivalButNotDuringWarmUp() throws {
        let warmup = Double(EntityAlertConfig().fastPurchase.warmupSeconds)
        let opener = [line("early", "page", base)]
        let arrival = base + warmup + 100
        let quick = [line("quick", "page", arrival), line("quick", "purchase", arrival + 2, item: "i1")]
        let (hit, _) = try detect(opener + quick)
        let alert = try #require(alerts(hit, .fastPurchase).first)
        #expect(alert.severity == .critical && alert.entity == "quick")
        #expect(evidence(alert, "seconds_since_first_seen") == 2)

        // Five seconds from arrival to purchase happens for simulated humans: not flagged.
        let slow = opener + [line("calm", "page", arrival), line("calm", "purchase", arrival + 5, item: "i1")]
        #expect(alerts(try detect(slow).alerts, .fastPurchase).isEmpty)
        // A purchase as the user's very first event shows no arrival (history before the stream):
        // not judged.
        let blind = opener + [line("blind", "purchase", arrival, item: "i1")]
        #expect(alerts(try detect(blind).alerts, .fastPurchase).isEmpty)
        // A user first seen during the warm-up may be a returning one: not judged.
        let early = opener + [line("back", "page", base + 100), line("back", "purchase", base + 101, item: "i1")]
        #expect(alerts(try detect(early).alerts, .fastPurchase).isEmpty)
    }

    @Test func sharedIPCountsDistinctUsersInTheWindow() throws {
        let ip = "203.0.113.7"
        let many = (0..<20).map { line("u\($0)", "view", base + Double($0) * 10, ip: ip) }
        let (hit, _) = try detect(many)
        #expect(alerts(hit, .sharedIP).count == 1)
        let alert = try #require(alerts(hit, .sharedIP).first)
        #expect(alert.id == "shared_ip:ip:\(ip)" && alert.entityType == "ip" && alert.entity == ip)
        #expect(evidence(alert, "distinct_users") == 20)
        #expect(alerts(hit, .sharedDevice).isEmpty)  // every user has its own agent

        // One user many times is one user; 19 users are too few.
        let same = burst("solo", count: 40, start: base, gap: 10, ip: ip)
        #expect(alerts(try detect(same).alerts, .sharedIP).isEmpty)
        let fewer = Array(many.prefix(19))
        #expect(alerts(try detect(fewer).alerts, .sharedIP).isEmpty)
        // Twenty users, one a minute: never twenty inside the ten-minute window.
        let spread = (0..<20).map { line("u\($0)", "view", base + Double($0) * 60, ip: ip) }
        #expect(alerts(try detect(spread).alerts, .sharedIP).isEmpty)
    }

    @Test func sharedDeviceIsTheIPAndAgentPair() throws {
        let ip = "198.51.100.9"
        let accounts = (0..<10).map { line("acct\($0)", "view", base + Double($0) * 60, ip: ip, agent: "ua-x") }
        let (hit, _) = try detect(accounts)
        let alert = try #require(alerts(hit, .sharedDevice).first)
        #expect(alert.id == "shared_device:device:\(ip)|ua-x")
        #expect(alert.entityType == "device" && alert.entity == "\(ip)|ua-x")
        #expect(alert.severity == .warning)

        let agents = (0..<10).map { line("acct\($0)", "view", base + Double($0) * 60, ip: ip, agent: "ua-\($0)") }
        let (miss, _) = try detect(agents)
        #expect(alerts(miss, .sharedDevice).isEmpty && alerts(miss, .sharedIP).isEmpty)
    }

    @Test func botTimingFlagsMachineRegularGapsOnly() throws {
        // 30 events a minute, every 2 s ± 1 %: regular. The same rate with random gaps: human.
        let regular = (0..<40).map { i in line("crawler", "view", base + Double(i) * 2 + (i % 3 == 0 ? 0.02 : -0.01)) }
        let (hit, _) = try detect(regular)
        let alert = try #require(alerts(hit, .botTiming).first)
        #expect(alert.id == "bot_timing:user:crawler")
        #expect(try #require(evidence(alert, "gap_cv")) < 0.1)
        #expect(abs(try #require(evidence(alert, "mean_gap_seconds")) - 2) < 0.1)
        #expect(alerts(hit, .velocity).isEmpty)

        var state: UInt64 = 7
        var t = base
        var random: [String] = []
        for _ in 0..<60 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let u = Double(state >> 11) / Double(1 << 53)
            t += -2 * Foundation.log(1 - u) + 0.05  // exponential gaps, mean ≈ 2 s
            random.append(line("human", "view", t))
        }
        #expect(alerts(try detect(random).alerts, .botTiming).isEmpty)
    }

    @Test func outlierScoresAgainstThePopulation() throws {
        var config = EntityAlertConfig()
        config.outlier.minPopulation = 5
        var lines: [String] = []
        // A population: 150 users browsing a few items over half an hour, interleaved in time.
        for step in 0..<6 {
            for u in 0..<150 {
                lines.append(line("p\(u)", "view", base + Double(step * 300 + u), item: "i\((u + step) % 40)"))
            }
        }
        lines.sort { $0.timeKey < $1.timeKey }
        let t = base + 1900
        // A quiet regular (25 views in 25 minutes) and a heavy hitter (views, carts, checkouts).
        var quiet = (0..<25).map { line("regular", "view", t + Double($0) * 60, item: "i\($0 % 5)") }
        quiet.sort { $0.timeKey < $1.timeKey }
        var heavy: [String] = []
        for i in 0..<12 {
            let s = t + Double(i) * 8
            heavy.append(line("heavy", "view", s, item: "h\(i)"))
            heavy.append(line("heavy", "cart", s + 2, item: "h\(i)"))
            heavy.append(line("heavy", "checkout", s + 4, item: "h\(i)"))
        }
        let (hit, _) = try detect(lines + heavy, config: config)
        let alert = try #require(alerts(hit, .outlier).first)
        #expect(alert.entity == "heavy" && alert.severity == .warning)
        let score = try #require(evidence(alert, "score"))
        #expect(score >= config.outlier.threshold)
        #expect(alert.evidence.first?.name == "score")
        #expect(alert.evidence.count >= 3)  // the score and at least one feature with its contribution
        #expect(alerts(hit, .outlier).allSatisfy { $0.entity == "heavy" })

        let (miss, detector) = try detect(lines + quiet, config: config)
        #expect(detector.outlier.ready)  // the quiet user was judged, and passed
        #expect(alerts(miss, .outlier).isEmpty)
    }

    // MARK: - De-duplication, bounds, determinism

    @Test func firesOncePerCooldownThenAgain() throws {
        let cooldown = Double(EntityAlertConfig().cooldownSeconds)
        let lines = burst("fast", count: 100, start: base, gap: 0.5)
            + burst("fast", count: 100, start: base + cooldown / 2, gap: 0.5)
            + burst("fast", count: 100, start: base + cooldown + 60, gap: 0.5)
        let (all, detector) = try detect(lines)
        let fired = alerts(all, .velocity)
        #expect(fired.count == 2)
        #expect(fired.map(\.id) == ["velocity:user:fast", "velocity:user:fast"])
        #expect(fired[1].time - fired[0].time >= Int64(cooldown) * 1_000_000)
        #expect(detector.alertsSuppressed > 0)
    }

    @Test func floodingDistinctIPsStaysWithinCapacity() throws {
        var config = EntityAlertConfig()
        config.velocity.enabled = false
        config.botTiming.enabled = false
        config.outlier.enabled = false
        config.sharedDevice.enabled = false
        config.sharedIP.capacity = 256
        let flood = (0..<4000).map { line("f\($0)", "view", base + Double($0) * 0.05, ip: "ip-\($0)") }
        let ip = "192.0.2.1"
        let shared = (0..<20).map { line("s\($0)", "view", base + 200 + Double($0), ip: ip) }
        let (all, detector) = try detect(flood + shared, config: config)
        #expect(detector.sharedIPs.capacity == 256)
        #expect(detector.trackedEntities <= 256 + 1)  // the ips plus one cooldown
        // The table still works after the flood: the busy ip is found.
        #expect(alerts(all, .sharedIP).map(\.entity) == [ip])
    }

    @Test func disabledRulesStaySilent() throws {
        var config = EntityAlertConfig()
        config.enabled = false
        let (none, detector) = try detect(burst("fast", count: 80, start: base, gap: 0.5), config: config)
        #expect(none.isEmpty && detector.trackedEntities == 0)
        config = EntityAlertConfig()
        config.velocity.enabled = false
        config.botTiming.enabled = false
        #expect(try detect(burst("fast", count: 80, start: base, gap: 0.5), config: config).alerts.isEmpty)
    }

    /// The detector's fast readers agree with `UserRecord`'s own.
    @Test func fastCountersMatchTheUserRecord() throws {
        var lines: [String] = []
        let types = ["view", "cart", "page", "checkout", "fav", "purchase", "search", "view"]
        for i in 0..<400 {
            lines.append(line("u\(i % 7)", types[i % types.count], base + Double(i) * 7.3, item: "i\(i % 11)"))
        }
        var engine = try Engine(config: EngineConfig())
        var decoder = RecordDecoder(mapping: try CompiledMapping(.canonicalJSON))
        var sink = CollectingSink()
        for (i, text) in lines.enumerated() {
            (Array(text.utf8) + [0x0A]).withUnsafeBytes {
                engine.process($0, decoder: &decoder, at: SourcePosition(source: 0, offset: Int64(i + 1)), sink: &sink)
            }
            let record = engine.users[try #require(sink.accepted.last).context.userSlot]
            let now = UInt32(try #require(sink.accepted.last).time / 1_000_000)
            withUnsafeBytes(of: record.counts) { bytes in
                let fast = WindowCounters(bytes: bytes)
                for w in 0..<4 {
                    #expect(fast.total(window: w) == record.total(window: w))
                    for g in 0..<EventType.windowGroupCount {
                        #expect(fast.count(window: w, group: g) == record.count(window: w, group: g))
                    }
                }
            }
            for seconds: UInt32 in [30, 300, 3000] {
                #expect(record.distinctRecentItems(now: now, seconds: seconds)
                        == record.distinctRecent(now: now, seconds: seconds).items)
            }
        }
    }

    // MARK: - Configuration

    @Test func configDecodesDefaultsAndOverrides() throws {
        let decoder = JSONDecoder()
        #expect(try decoder.decode(EntityAlertConfig.self, from: Data("{}".utf8)) == EntityAlertConfig())
        let text = """
            {"cooldown_seconds": 600,
             "velocity": {"events_per_minute": 120},
             "cart_burst": {"enabled": false},
             "shared_ip": {"users": 5},
             "shared_device": {"window_seconds": 600, "capacity": 1024},
             "bot_timing": {"max_cv": 0.05, "min_gaps": 30},
             "fast_purchase": {"within_seconds": 20},
             "outlier": {"threshold": 80, "min_std": 0.25}}
            """
        let config = try decoder.decode(EntityAlertConfig.self, from: Data(text.utf8))
        #expect(config.cooldownSeconds == 600 && config.enabled)
        #expect(config.velocity.eventsPerMinute == 120 && config.velocity.enabled)
        #expect(!config.cartBurst.enabled && config.cartBurst.carts == EntityAlertConfig().cartBurst.carts)
        // Each shared rule keeps its own defaults for what the file leaves out.
        #expect(config.sharedIP.users == 5 && config.sharedIP.windowSeconds == 600)
        #expect(config.sharedDevice.users == 10 && config.sharedDevice.windowSeconds == 600)
        #expect(config.sharedDevice.capacity == 1024)
        #expect(config.botTiming.maxCV == 0.05 && config.botTiming.minGaps == 30)
        #expect(config.fastPurchase.withinSeconds == 20)
        #expect(config.outlier.threshold == 80 && config.outlier.minStd == 0.25)
        try config.validate(path: "alerts.entities")

        let nulls = try decoder.decode(EntityAlertConfig.self, from: Data(#"{"shared_device": null}"#.utf8))
        #expect(nulls == EntityAlertConfig())
        // Encoding round-trips.
        let again = try decoder.decode(EntityAlertConfig.self, from: JSONEncoder().encode(config))
        #expect(again == config)
    }

    @Test func validateNamesTheOffendingKey() {
        let cases: [(String, (inout EntityAlertConfig) -> Void)] = [
            ("cooldown_seconds", { $0.cooldownSeconds = 0 }),
            ("velocity.events_per_minute", { $0.velocity.eventsPerMinute = 0 }),
            ("cart_burst.carts", { $0.cartBurst.carts = 1 }),
            ("checkout_without_view.attempts", { $0.checkoutWithoutView.attempts = 0 }),
            ("shared_ip.users", { $0.sharedIP.users = 1 }),
            ("shared_device.users", { $0.sharedDevice.users = 65 }),
            ("shared_device.capacity", { $0.sharedDevice.capacity = 10 }),
            ("bot_timing.max_cv", { $0.botTiming.maxCV = 0 }),
            ("bot_timing.min_gaps", { $0.botTiming.minGaps = 100 }),
            ("fast_purchase.within_seconds", { $0.fastPurchase.withinSeconds = 0 }),
            ("outlier.threshold", { $0.outlier.threshold = -1 }),
            ("outlier.half_life_seconds", { $0.outlier.halfLifeSeconds = 1 }),
        ]
        for (key, mutate) in cases {
            var config = EntityAlertConfig()
            mutate(&config)
            #expect(throws: ConfigError.self, "\(key)") { try config.validate(path: "engine.alerts.entities") }
            do {
                try config.validate(path: "engine.alerts.entities")
            } catch {
                #expect(error.key == "engine.alerts.entities.\(key)")
            }
        }
        #expect(throws: Never.self) { try EntityAlertConfig().validate(path: "x") }
    }

    // MARK: - Simulated ground truth

    /// A simulated stream with bots and card testers: every incident user is alerted, no
    /// ordinary shopper is, and a replay gives the same alerts.
    @Test func simulatedBotsAndCardTestersAreFoundAndShoppersAreNot() throws {
        var sim = SimulatorConfig(seed: 21, users: 2500, duration: 3 * 3_600_000)
        let t0 = sim.start
        sim.incidents = [
            .bots(count: 3, ratePerSecond: 1, start: t0 + 3_600_000, end: t0 + 4_200_000),
            .bots(count: 3, ratePerSecond: 0.25, start: t0 + 5_400_000, end: t0 + 6_600_000),
            .cardTesting(users: 4, attemptsPerUser: 30, approvalRate: 0.2, start: t0 + 4_800_000, end: t0 + 9_000_000),
        ]
        var simulator = Simulator(config: sim)
        var lines: [String] = []
        var buffer: [UInt8] = []
        while simulator.next(into: &buffer) {
            lines.append(String(decoding: buffer.dropLast(), as: UTF8.self))
            buffer.removeAll(keepingCapacity: true)
        }
        let truth = simulator.truth
        let bad = Set(truth.incidents.flatMap(\.users))
        #expect(bad.count == 10)

        let (all, _) = try detect(lines)
        let users = Set(all.filter { $0.entityType == "user" }.map(\.entity))
        #expect(users == bad, "missed \(bad.subtracting(users).sorted()), false \(users.subtracting(bad).sorted())")
        #expect(all.allSatisfy { $0.kind.family == .fraud && $0.state == .firing })
        #expect(all.filter { $0.entityType != "user" }.isEmpty)
        let testers = Set(truth.incidents.filter { $0.kind == "card_testing" }.flatMap(\.users))
        #expect(Set(alerts(all, .checkoutWithoutView).map(\.entity)) == testers)

        #expect(try detect(lines).alerts == all)
    }
}

extension String {
    /// The `ts` value of a test event line (for sorting interleaved lines).
    fileprivate var timeKey: Int64 {
        guard let range = range(of: "\"ts\":") else { return 0 }
        return Int64(self[range.upperBound...].prefix { $0.isNumber }) ?? 0
    }
}
