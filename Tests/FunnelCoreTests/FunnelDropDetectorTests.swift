import FunnelCore
import Testing

/// The funnel detectors on hand-built count series: one funnel "f" of two steps (a → b), one
/// window per minute. Counts are built so the expected outcome is unambiguous.
@Suite struct FunnelDropDetectorTests {
    static let minute: Int64 = 60_000_000

    struct Series {
        var detector: FunnelDropDetector
        var alerts: [Alert] = []
        var window: Int64 = 0

        init(config: FunnelAlertConfig = FunnelAlertConfig()) {
            detector = FunnelDropDetector(config: config, funnelWindowSeconds: 60)
        }

        /// One closed window: `entered` attempts at step a, `converted` of them on to b, split by device.
        mutating func push(entered: Int64, converted: Int64, devices: [(String, Int64, Int64)] = []) {
            let steps = [FunnelStepStats(entered: entered, converted: converted),
                         FunnelStepStats(entered: converted)]
            let values = devices.map { name, n, x in
                FunnelSnapshot.BreakdownValue(
                    name: name, steps: [FunnelStepStats(entered: n, converted: x), FunnelStepStats(entered: x)])
            }
            let snapshot = FunnelSnapshot(
                funnel: "f", stepNames: ["a", "b"], windowStart: window * FunnelDropDetectorTests.minute,
                windowEnd: (window + 1) * FunnelDropDetectorTests.minute, watermark: (window + 1) * FunnelDropDetectorTests.minute,
                partial: false, steps: steps,
                breakdowns: devices.isEmpty ? [] : [FunnelSnapshot.Breakdown(dimension: "device", values: values)])
            detector.windowClosed(snapshot) { alerts.append($0) }
            window += 1
        }

        mutating func run(_ count: Int, entered: Int64, converted: Int64) {
            for _ in 0..<count { push(entered: entered, converted: converted) }
        }

        func of(_ kind: AlertKind, _ state: AlertState) -> [Alert] { alerts.filter { $0.kind == kind && $0.state == state } }
    }

    @Test func aRealDropFiresOnceAndResolvesOnce() {
        var s = Series()
        s.run(360, entered: 40, converted: 20)  // six hours at 50 %
        let dropStart = s.window
        s.run(60, entered: 40, converted: 8)  // one hour at 20 %
        let recovery = s.window
        s.run(120, entered: 40, converted: 20)
        let fired = s.of(.funnelDrop, .firing)
        let resolved = s.of(.funnelDrop, .resolved)
        #expect(fired.count == 1)
        #expect(resolved.count == 1)
        guard let f = fired.first, let r = resolved.first else { return }
        #expect(f.id == "funnel_drop:f:b")
        #expect(r.id == f.id)
        #expect(f.step == "b" && f.dimension == nil)
        // Within one long window (15 min) of the start.
        #expect(f.time > dropStart * Self.minute && f.time <= (dropStart + 15) * Self.minute)
        #expect(abs((f.baselineRate ?? 0) - 0.5) < 0.01)
        #expect((f.observedRate ?? 1) < 0.35)
        #expect((f.intervalHigh ?? 1) < 0.5)
        #expect(r.time > recovery * Self.minute && r.since == f.time)
        #expect(s.detector.firing == 0)
    }

    @Test func smallVolumeNeverFires() {
        var s = Series()
        // Two attempts a minute: 30 per long window, under min_volume (40), even when nothing converts.
        s.run(360, entered: 2, converted: 1)
        s.run(120, entered: 2, converted: 0)
        #expect(s.alerts.isEmpty)
    }

    @Test func binomialNoiseOnASteadyRateStaysQuiet() {
        var s = Series()
        var random = SimRandom(seed: 7)
        // Two simulated days at p = 0.3 with 20 attempts a minute, binomial noise.
        for _ in 0..<(2 * 1440) {
            var converted: Int64 = 0
            for _ in 0..<20 where random.uniform() < 0.3 { converted += 1 }
            s.push(entered: 20, converted: converted)
        }
        #expect(s.of(.funnelDrop, .firing).isEmpty)
    }

    @Test func cooldownHoldsAfterResolve() {
        var config = FunnelAlertConfig()
        config.cooldownSeconds = 3600
        var s = Series(config: config)
        s.run(360, entered: 40, converted: 20)
        s.run(30, entered: 40, converted: 6)
        s.run(20, entered: 40, converted: 20)
        #expect(s.of(.funnelDrop, .resolved).count == 1)
        // Second drop inside the hour of cooldown: silent.
        s.run(20, entered: 40, converted: 6)
        #expect(s.of(.funnelDrop, .firing).count == 1)
        // Recover, wait the cooldown out, drop again: fires again under the same id.
        s.run(80, entered: 40, converted: 20)
        s.run(30, entered: 40, converted: 6)
        let fired = s.of(.funnelDrop, .firing)
        #expect(fired.count == 2)
        #expect(Set(fired.map(\.id)).count == 1)
    }

    @Test func aDropOnOneDeviceAlertsThatDeviceOnly() {
        var s = Series()
        // Mobile is 30 % of traffic: its drop from 50 % to 10 % takes all traffic down by 24 %,
        // under min_relative_drop, so only the mobile value alerts.
        for _ in 0..<360 {
            s.push(entered: 100, converted: 50, devices: [("mobile", 30, 15), ("desktop", 70, 35)])
        }
        for _ in 0..<45 {
            s.push(entered: 100, converted: 38, devices: [("mobile", 30, 3), ("desktop", 70, 35)])
        }
        let fired = s.of(.funnelDrop, .firing)
        #expect(fired.count == 1)
        #expect(fired.first?.dimension == "device")
        #expect(fired.first?.value == "mobile")
        #expect(fired.first?.id == "funnel_drop:f:b:device=mobile")
    }

    @Test func anAllTrafficDropNamesItsRootCause() {
        var s = Series()
        for _ in 0..<360 {
            s.push(entered: 100, converted: 50, devices: [("mobile", 80, 40), ("desktop", 20, 10)])
        }
        for _ in 0..<45 {
            s.push(entered: 100, converted: 18, devices: [("mobile", 80, 8), ("desktop", 20, 10)])
        }
        let fired = s.of(.funnelDrop, .firing)
        let all = fired.first { $0.dimension == nil }
        #expect(all != nil)
        #expect(all?.causes.first?.dimension == "device")
        #expect(all?.causes.first?.value == "mobile")
        #expect((all?.causes.first?.share ?? 0) > 0.9)
    }

    @Test func vanishingStepVolumeIsAVolumeDrop() {
        var s = Series()
        s.run(360, entered: 40, converted: 20)
        // Step b's events stop arriving (broken tracking): a keeps coming, nothing reaches b.
        s.run(40, entered: 40, converted: 0)
        s.run(60, entered: 40, converted: 20)
        #expect(s.of(.volumeDrop, .firing).count == 1)
        #expect(s.of(.volumeDrop, .firing).first?.step == "b")
        #expect(s.of(.volumeDrop, .resolved).count == 1)
    }

    @Test func aStalledStreamFiresAndResolves() {
        var s = Series()
        s.run(360, entered: 40, converted: 20)
        s.run(30, entered: 0, converted: 0)
        s.run(30, entered: 40, converted: 20)
        let fired = s.of(.streamStalled, .firing)
        #expect(fired.count == 1)
        #expect(fired.first?.severity == .critical)
        #expect(s.of(.streamStalled, .resolved).count == 1)
        #expect(s.of(.funnelDrop, .firing).isEmpty)
    }

    @Test func partialWindowsAreNotJudged() {
        var s = Series()
        s.run(360, entered: 40, converted: 20)
        let before = s.alerts.count
        let snapshot = FunnelSnapshot(funnel: "f", stepNames: ["a", "b"], windowStart: 0, windowEnd: 1, watermark: 1,
                                      partial: true, steps: [FunnelStepStats(), FunnelStepStats()])
        for _ in 0..<30 { s.detector.windowClosed(snapshot) { s.alerts.append($0) } }
        #expect(s.alerts.count == before)
    }

    @Test func settingsAreValidatedWithTheirKeys() {
        var config = EngineConfig()
        config.alerts.funnel.longWindowSeconds = 90
        #expect(throws: ConfigError.self) { try config.validate() }
        do {
            try config.validate()
        } catch {
            #expect(error.key == "engine.alerts.funnel.long_window_seconds")
        }
        config = EngineConfig()
        config.alerts.funnel.resolveRelativeDrop = 0.5
        do {
            try config.validate()
            Issue.record("resolve_relative_drop above min_relative_drop was accepted")
        } catch {
            #expect(error.key == "engine.alerts.funnel.resolve_relative_drop")
        }
    }
}
