import FunnelCore
import Testing

/// The cart-abandonment signal, end to end through the engine (event time only).
@Suite struct CartAbandonmentTests {
    /// Idle 10 minutes; lateness 0 so the watermark is the newest event time.
    static func config(scoreThreshold: Double = 0) -> EngineConfig {
        var config = EngineConfig()
        config.allowedLatenessSeconds = 0
        config.alerts.cartAbandonment.idleSeconds = 600
        config.alerts.cartAbandonment.scoreThreshold = scoreThreshold
        config.model.enabled = scoreThreshold > 0
        return config
    }

    /// A clock user whose page views move the watermark on.
    static func ticks(from: Double, to: Double, every: Double = 30) -> [(Double, String)] {
        stride(from: from, through: to, by: every).map { ($0, jsonEvent("clock", "page", base + $0)) }
    }

    static func merged(_ lines: [(Double, String)]) -> [String] {
        lines.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map(\.element.1)
    }

    @Test func anIdleCartIsSignalledOnce() throws {
        let lines = Self.merged([
            (10, jsonEvent("u-idle", "view", base + 10, item: "i-1")),
            (20, jsonEvent("u-idle", "cart", base + 20, item: "i-1", extra: "\"price\":12.5,\"quantity\":2")),
        ] + Self.ticks(from: 0, to: 3600))
        let (_, sink) = try run(lines, config: Self.config())
        let signals = sink.alerts.filter { $0.kind == .cartAbandonment }
        #expect(signals.count == 1)
        guard let signal = signals.first else { return }
        #expect(signal.state == .signal)
        #expect(signal.entityType == "user" && signal.entity == "u-idle")
        #expect(signal.value == "idle")
        // Decided in event time: 600 s after the user's last event.
        #expect(signal.time == Int64((base + 20 + 600) * 1_000_000))
        #expect(signal.evidence.contains { $0.name == "cart_value" && $0.value == 25 })
        #expect(signal.evidence.contains { $0.name == "cart_items" && $0.value == 2 })
    }

    @Test func activityRearmsAndPurchaseOrEmptyCartCancels() throws {
        let lines = Self.merged([
            // Returns after 500 s, then idles: one signal, 600 s after the return.
            (0, jsonEvent("u-back", "cart", base, item: "i-1")),
            (500, jsonEvent("u-back", "view", base + 500, item: "i-2")),
            // Buys within the idle time: no signal.
            (0, jsonEvent("u-buy", "cart", base, item: "i-3")),
            (300, jsonEvent("u-buy", "purchase", base + 300, item: "i-3")),
            // Empties the cart: no signal.
            (0, jsonEvent("u-empty", "cart", base, item: "i-4")),
            (100, jsonEvent("u-empty", "remove_from_cart", base + 100, item: "i-4")),
        ] + Self.ticks(from: 0, to: 3600))
        let (_, sink) = try run(lines, config: Self.config())
        let signals = sink.alerts.filter { $0.kind == .cartAbandonment }
        #expect(signals.map(\.entity) == ["u-back"])
        #expect(signals.first?.time == Int64((base + 1100) * 1_000_000))
    }

    @Test func aNewCartAfterASignalCanBeSignalledAgain() throws {
        let lines = Self.merged([
            (0, jsonEvent("u-2", "cart", base, item: "i-1")),
            (1000, jsonEvent("u-2", "purchase", base + 1000, item: "i-1")),
            (2000, jsonEvent("u-2", "cart", base + 2000, item: "i-5")),
        ] + Self.ticks(from: 0, to: 4000))
        let (_, sink) = try run(lines, config: Self.config())
        let signals = sink.alerts.filter { $0.kind == .cartAbandonment }
        #expect(signals.count == 2)
        #expect(Set(signals.map(\.id)).count == 2)
    }

    @Test func aLowScoreSignalsAtOnceAndOnlyOnce() throws {
        // Every score is below 0.99: the holder's first scored event after carting signals.
        let lines = Self.merged([
            (0, jsonEvent("u-low", "view", base, item: "i-1")),
            (10, jsonEvent("u-low", "cart", base + 10, item: "i-1", extra: "\"price\":3")),
            (40, jsonEvent("u-low", "view", base + 40, item: "i-2")),
        ] + Self.ticks(from: 0, to: 3600))
        let (_, sink) = try run(lines, config: Self.config(scoreThreshold: 0.99))
        let signals = sink.alerts.filter { $0.kind == .cartAbandonment }
        #expect(signals.count == 1)
        #expect(signals.first?.value == "low_score")
        #expect(signals.first?.entity == "u-low")
        #expect(signals.first?.evidence.contains { $0.name == "score_threshold" && $0.value == 0.99 } == true)
    }

    @Test func disabledMeansSilent() throws {
        var config = Self.config()
        config.alerts.cartAbandonment.enabled = false
        let lines = Self.merged([(0, jsonEvent("u-3", "cart", base, item: "i-1"))] + Self.ticks(from: 0, to: 3600))
        let (_, sink) = try run(lines, config: config)
        #expect(sink.alerts.isEmpty)
    }
}
