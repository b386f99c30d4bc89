/// Everything one screen of the demo shows, gathered by ``DemoDisplay`` once per refresh.
struct DemoFrame: Sendable {
    var bootstrapServers: String
    var scoresTopic: String
    /// `http://host:port/metrics`, or nil when the endpoint is not running.
    var metricsURL: String?
    var uptimeSeconds: Int
    var stats: DemoStats
    /// Per-second rates over the last refresh interval; nil on the first frame.
    var eventsInRate: Double?
    var outputsRate: Double?
    var health: PipelineHealth.Snapshot
}

/// Turns demo state into lines of text. Pure functions only, so the screen is testable and the
/// redrawn view and the `--no-ui` log lines cannot disagree.
enum DemoView {
    static let width = 96

    // MARK: - Funnel table

    /// The table of one published funnel snapshot (a value from the funnel topic).
    ///
    /// Unreadable input gives one explanatory line instead of throwing: a screen that stops
    /// refreshing because one record was odd would hide everything else.
    static func funnelTable(snapshotJSON: [UInt8]) -> [String] {
        let snapshot: DemoFunnelSnapshot
        do {
            snapshot = try DemoFunnelSnapshot.decode(snapshotJSON)
        } catch {
            return ["funnel snapshot unreadable: \(DemoFormat.truncate("\(error)", width - 30))"]
        }
        return funnelTable(snapshot)
    }

    static func funnelTable(_ snapshot: DemoFunnelSnapshot) -> [String] {
        let partial = snapshot.partial ? " (partial)" : ""
        var lines = [
            "funnel \(snapshot.funnel)  window \(snapshot.windowStart) – \(snapshot.windowEnd)\(partial)"
                + "  overall \(DemoFormat.percent(snapshot.overallConversionRate))"
        ]
        let nameWidth = max(12, (snapshot.steps.map(\.step.count).max() ?? 0) + 1)
        let header = ["entered", "converted", "dropped", "in flight", "conv. rate"]
        lines.append("  " + DemoFormat.pad("step", nameWidth) + header.map { DemoFormat.padLeft($0, 11) }.joined())
        for step in snapshot.steps {
            let cells = [String(step.entered), String(step.converted), String(step.dropped), String(step.inFlight),
                         DemoFormat.percent(step.conversionRate)]
            lines.append("  " + DemoFormat.pad(step.step, nameWidth) + cells.map { DemoFormat.padLeft($0, 11) }.joined())
        }
        if !snapshot.rolling.isEmpty {
            let rolling = snapshot.rolling.map {
                "last \(DemoFormat.duration(seconds: $0.windowSeconds)) \(DemoFormat.percent($0.overallConversionRate))"
            }
            lines.append("  rolling overall conversion: " + rolling.joined(separator: ", "))
        }
        return lines
    }

    // MARK: - Whole screen

    static func frame(_ frame: DemoFrame) -> [String] {
        let stats = frame.stats
        let health = frame.health
        var lines: [String] = []
        lines.append("FunnelPulse demo — embedded Kafka (mock cluster) at \(frame.bootstrapServers)"
                     + "   up \(DemoFormat.duration(seconds: frame.uptimeSeconds))   Ctrl-C stops")
        lines.append("  watch: kcat -b \(frame.bootstrapServers) -t \(frame.scoresTopic) -C"
                     + "   metrics: \(frame.metricsURL ?? "off")")
        lines.append("")
        lines.append("Throughput")
        lines.append("  events in  \(DemoFormat.padLeft(DemoFormat.rate(frame.eventsInRate), 7))/s"
                     + "   total \(stats.produced)" + (stats.produceErrors > 0 ? "  (\(stats.produceErrors) failed)" : ""))
        lines.append("  outputs    \(DemoFormat.padLeft(DemoFormat.rate(frame.outputsRate), 7))/s"
                     + "   total \(stats.outputs): \(stats.scores) scores, \(stats.snapshots) funnel snapshots, "
                     + "\(stats.deadLetters) dead letters")
        lines.append("  pipeline   \(pipelineState(health))")
        lines.append("")
        lines.append("Funnel (latest snapshot on the funnel topic)")
        if stats.latestSnapshots.isEmpty {
            lines.append("  waiting for the first funnel window to close…")
        }
        for latest in stats.latestSnapshots {
            lines += funnelTable(snapshotJSON: latest.json).map { "  " + $0 }
        }
        lines.append("")
        let mean = stats.histogram.mean.map { DemoFormat.fixed($0, 4) } ?? "-"
        lines.append("Scores (\(stats.histogram.total) on the scores topic, mean \(mean))")
        lines += stats.histogram.lines().map { "  " + $0 }
        lines.append("")
        lines.append("Model quality (resolved predictions, recent window)")
        if let m = frame.health.model {
            func f(_ v: Double?, _ d: Int) -> String { v.map { DemoFormat.fixed($0, d) } ?? "-" }
            lines.append("  version \(m.version)  resolved \(m.resolved)  pending labels \(m.pending)")
            lines.append("  AUC \(f(m.auc, 3))  log loss \(f(m.logLoss, 4))  mean score \(f(m.meanScore, 4))"
                         + "  observed positive rate \(f(m.positiveRate, 4))")
        } else {
            lines.append("  model version \(stats.modelVersion.map(String.init) ?? "-") (from the score records);"
                         + " no resolved predictions yet")
        }
        lines.append("")
        lines.append("Alerts")
        if stats.recentAlerts.isEmpty {
            lines.append("  no alerts")
        } else {
            lines += stats.recentAlerts.reversed().map { "  " + DemoFormat.truncate($0, width - 2) }
        }
        if let deadLetter = stats.latestDeadLetter {
            lines.append("  latest dead letter: " + DemoFormat.truncate(deadLetter, width - 22))
        }
        if stats.unreadable > 0 {
            lines.append("  \(stats.unreadable) output records could not be decoded by the view")
        }
        return lines
    }

    /// One line per refresh for `--no-ui` (and when standard output is not a terminal).
    static func logLine(_ frame: DemoFrame) -> String {
        let stats = frame.stats
        var parts = [
            "demo up=\(frame.uptimeSeconds)s",
            "events_in=\(stats.produced) (\(DemoFormat.rate(frame.eventsInRate))/s)",
            "outputs=\(stats.outputs) (\(DemoFormat.rate(frame.outputsRate))/s)",
            "scores=\(stats.scores)",
            "snapshots=\(stats.snapshots)",
            "deadletters=\(stats.deadLetters)",
            "alerts=\(stats.alerts)",
            "lag=\(frame.health.totalLag.map(String.init) ?? "-")",
        ]
        if let mean = stats.histogram.mean { parts.append("mean_score=\(DemoFormat.fixed(mean, 4))") }
        if let m = frame.health.model {
            parts.append("model_resolved=\(m.resolved)")
            if let auc = m.auc { parts.append("model_auc=\(DemoFormat.fixed(auc, 3))") }
            if let loss = m.logLoss { parts.append("model_logloss=\(DemoFormat.fixed(loss, 4))") }
        }
        for latest in stats.latestSnapshots {
            if let snapshot = try? DemoFunnelSnapshot.decode(latest.json) {
                // The snapshot's own window is short (a minute by default) and rarely holds a whole
                // journey, so its overall rate alone mostly reads 0.0%: the rolling windows follow.
                let rolling = snapshot.rolling.map {
                    " last_\(DemoFormat.duration(seconds: $0.windowSeconds))=\(DemoFormat.percent($0.overallConversionRate))"
                }
                parts.append("funnel[\(snapshot.funnel)]=\(DemoFormat.percent(snapshot.overallConversionRate))"
                             + rolling.joined() + " @\(snapshot.windowEnd)")
            }
        }
        return parts.joined(separator: " ")
    }

    static func pipelineState(_ health: PipelineHealth.Snapshot) -> String {
        if let failure = health.failure { return "failed: \(DemoFormat.truncate(failure, width - 20))" }
        if health.stopping { return "stopping (finishing the batch in hand, committing)" }
        if !health.started { return "starting" }
        if health.assignedPartitions == 0 { return "joining the consumer group…" }
        let lag = health.totalLag.map(String.init) ?? "-"
        return "\(health.assignedPartitions) partition(s) assigned, consumer lag \(lag)"
            + (health.paused ? ", paused (back-pressure)" : "")
    }
}
