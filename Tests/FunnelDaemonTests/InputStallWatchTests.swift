import FunnelCore
import Testing

@testable import FunnelDaemon

/// The processing-time stall alert of `run`.
@Suite struct InputStallWatchTests {
    @Test func firesOnceWhileQuietAndResolvesOnTheNextRecord() {
        var watch = InputStallWatch(afterSeconds: 300)
        let t0 = ContinuousClock.now
        // Nothing before the first record: a daemon waiting for its first input is not stalled.
        #expect(watch.check(now: t0 + .seconds(1000), recordsRead: 0, eventTime: 0) == nil)
        #expect(watch.check(now: t0 + .seconds(1001), recordsRead: 10, eventTime: 5_000_000) == nil)
        #expect(watch.check(now: t0 + .seconds(1200), recordsRead: 10, eventTime: 5_000_000) == nil)
        let fired = watch.check(now: t0 + .seconds(1301), recordsRead: 10, eventTime: 5_000_000)
        #expect(fired?.state == .firing)
        #expect(fired?.kind == .streamStalled)
        #expect(fired?.id == "stream_stalled:input")
        #expect(fired?.evidence.first?.value == 300)
        // Still quiet: no repeat.
        #expect(watch.check(now: t0 + .seconds(1800), recordsRead: 10, eventTime: 5_000_000) == nil)
        let resolved = watch.check(now: t0 + .seconds(1900), recordsRead: 11, eventTime: 9_000_000)
        #expect(resolved?.state == .resolved)
        #expect(resolved?.id == fired?.id)
        #expect(resolved?.since == 5_000_000)
        #expect(watch.check(now: t0 + .seconds(1901), recordsRead: 12, eventTime: 9_000_000) == nil)
    }

    @Test func zeroDisables() {
        var watch = InputStallWatch(afterSeconds: 0)
        let t0 = ContinuousClock.now
        #expect(watch.check(now: t0, recordsRead: 1, eventTime: 0) == nil)
        #expect(watch.check(now: t0 + .seconds(100_000), recordsRead: 1, eventTime: 0) == nil)
    }
}

/// Alert counts in `/metrics`.
@Suite struct AlertMetricsTests {
    @Test func alertsAreCountedByKindAndState() {
        let setup = MetricsSetup()
        let metrics = PipelineMetrics(factory: setup.factory)
        var counts = AlertCounts()
        func alert(_ kind: AlertKind, _ state: AlertState) -> Alert {
            Alert(id: "x", kind: kind, state: state, severity: .warning, time: 0, since: 0, entityType: "user",
                  entity: "u", message: "m")
        }
        counts.add(alert(.velocity, .firing))
        counts.add(alert(.velocity, .firing))
        counts.add(alert(.funnelDrop, .firing))
        metrics.recordAlerts(counts, firing: 1)
        counts.add(alert(.funnelDrop, .resolved))
        counts.add(alert(.cartAbandonment, .signal))
        metrics.recordAlerts(counts, firing: 0)
        // Deltas only: a second call with the same totals adds nothing.
        metrics.recordAlerts(counts, firing: 0)
        let text = setup.registry.emitToString()
        #expect(text.contains(#"funnelpulse_alerts_total{kind="velocity",state="firing"} 2"#))
        #expect(text.contains(#"funnelpulse_alerts_total{kind="funnel_drop",state="firing"} 1"#))
        #expect(text.contains(#"funnelpulse_alerts_total{kind="funnel_drop",state="resolved"} 1"#))
        #expect(text.contains(#"funnelpulse_alerts_total{kind="cart_abandonment",state="signal"} 1"#))
        #expect(text.contains("funnelpulse_alerts_firing 0"))
    }
}
