import Foundation
import FunnelCore
import Logging
import Prometheus
import Synchronization
import Testing

@testable import FunnelDaemon

/// `funnelpulse demo`: the view's pure rendering, and one whole run on the embedded mock cluster.
@Suite("Demo")
struct DemoTests {
    /// A snapshot as the pipeline publishes it (OutputRecords' shape), with round numbers.
    static let snapshotJSON = #"""
        {"schema":"funnelpulse.funnel_snapshot.v1","funnel":"checkout","window_start":"2024-01-01T00:00:00.000Z",\#
        "window_end":"2024-01-01T00:01:00.000Z","window_start_ms":1704067200000,"window_end_ms":1704067260000,\#
        "watermark_ms":1704067265000,"partial":false,"overall_conversion_rate":0.25,"steps":[\#
        {"step":"visit","entered":100,"converted":40,"dropped":50,"in_flight":10,"conversion_rate":0.4444444,\#
        "time_to_convert_s":{"count":40,"p50":1.5,"p90":3.0,"p99":9.0}},\#
        {"step":"add_to_cart","entered":40,"converted":10,"dropped":30,"in_flight":0,"conversion_rate":0.25,\#
        "time_to_convert_s":null},\#
        {"step":"purchase","entered":10,"converted":0,"dropped":0,"in_flight":0,"conversion_rate":null,\#
        "time_to_convert_s":null}],\#
        "rolling":[{"window_seconds":900,"overall_conversion_rate":0.1234,"steps":[]},\#
        {"window_seconds":3600,"overall_conversion_rate":null,"steps":[]}],"breakdowns":[]}
        """#

    @Test("the funnel table renders a published snapshot line by line")
    func funnelTable() {
        let lines = DemoView.funnelTable(snapshotJSON: Array(Self.snapshotJSON.utf8))
        #expect(lines == [
            "funnel checkout  window 2024-01-01T00:00:00.000Z – 2024-01-01T00:01:00.000Z  overall 25.0%",
            "  step            entered  converted    dropped  in flight conv. rate",
            "  visit               100         40         50         10      44.4%",
            "  add_to_cart          40         10         30          0      25.0%",
            "  purchase             10          0          0          0          -",
            "  rolling overall conversion: last 15m 12.3%, last 1h -",
        ])
    }

    @Test("the --no-ui line carries the snapshot's rate and its rolling windows' rates")
    func logLineFunnelRates() {
        var stats = DemoStats()
        stats.recordSnapshot(funnel: "checkout", json: Array(Self.snapshotJSON.utf8))
        let frame = DemoFrame(bootstrapServers: "127.0.0.1:1", scoresTopic: "s", metricsURL: nil, uptimeSeconds: 3,
                              stats: stats, eventsInRate: nil, outputsRate: nil, health: PipelineHealth.Snapshot())
        let line = DemoView.logLine(frame)
        #expect(line.hasSuffix(
            " funnel[checkout]=25.0% last_15m=12.3% last_1h=- @2024-01-01T00:01:00.000Z"))
    }

    @Test("an unreadable snapshot gives one explanatory line, not a crash")
    func unreadableSnapshot() {
        let lines = DemoView.funnelTable(snapshotJSON: Array(#"{"funnel":"x","steps":"#.utf8))
        #expect(lines.count == 1)
        #expect(lines[0].hasPrefix("funnel snapshot unreadable: "))
    }

    @Test("the score histogram bins, clamps and scales")
    func histogram() {
        let scores = [0.005, 0.005, 0.015, 0.03, 0.07, 0.15, 0.3, 0.9, 1.0, 1.5, -0.1, Double.nan]
        let histogram = ScoreHistogram(scores)
        #expect(histogram.counts == [3, 1, 1, 1, 1, 1, 3])
        #expect(histogram.total == 11)
        #expect(histogram.mean.map { DemoFormat.fixed($0, 4) } == "0.3159")
        #expect(histogram.lines(barWidth: 6) == [
            "[0.00, 0.01)      3 ██████  27.3%",
            "[0.01, 0.02)      1 ██       9.1%",
            "[0.02, 0.05)      1 ██       9.1%",
            "[0.05, 0.10)      1 ██       9.1%",
            "[0.10, 0.20)      1 ██       9.1%",
            "[0.20, 0.50)      1 ██       9.1%",
            "[0.50, 1.00]      3 ██████  27.3%",
        ])
        var merged = ScoreHistogram([0.005])
        merged.merge(ScoreHistogram([0.9, 0.015]))
        #expect(merged.counts == [1, 1, 0, 0, 0, 0, 1])
        #expect(ScoreHistogram().lines(barWidth: 3).first == "[0.00, 0.01)      0          -")
    }

    @Test("reader batches merge into totals, keeping the latest snapshot per funnel and the newest alerts")
    func statsMerge() {
        var batch = DemoStats()
        batch.outputs = 7
        batch.recordSnapshot(funnel: "a", json: [1])
        batch.recordSnapshot(funnel: "a", json: [2])
        batch.recordSnapshot(funnel: "b", json: [3])
        for index in 0..<4 { batch.recordAlert("alert \(index)") }
        var total = DemoStats()
        total.merge(batch)
        total.merge(batch)
        #expect(total.outputs == 14)
        #expect(total.snapshots == 6)
        #expect(total.latestSnapshots.map(\.funnel) == ["a", "b"])
        #expect(total.latestSnapshots.first?.json == [2])
        #expect(total.alerts == 8)
        #expect(total.recentAlerts == ["alert 3", "alert 0", "alert 1", "alert 2", "alert 3"])
    }

    @Test("a config file's engine, outputs and http apply; Kafka is the embedded cluster's")
    func configSections() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("demo-\(UUID().uuidString).yaml")
        try """
            engine:
              funnel_window_seconds: 300
            outputs:
              scores: my.scores
            http:
              port: 9999
            kafka:
              bootstrap_servers: "broker.example:9092"
              group_id: production
            """.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let loaded = try ConfigLoader.loadConfig(path: file.path, environment: [:])
        let config = try Commands.demoConfig(loaded, file: file.path, bootstrapServers: "127.0.0.1:1", httpPort: nil)
        #expect(config.engine.funnelWindowSeconds == 300)
        #expect(config.outputs.scores == "my.scores")
        #expect(config.http.port == 9999)
        #expect(config.kafka.bootstrapServers == "127.0.0.1:1")
        #expect(config.kafka.groupID == "funnelpulse-demo")
        #expect(!config.kafka.createTopics)
    }

    @Test("the feed continues after the simulator's span, with a new seed")
    func nextRound() {
        let first = SimulatorConfig(seed: 7, start: 1_000, duration: 60_000)
        let next = DemoFeeder.nextRound(after: first)
        #expect(next.start == 61_000)
        #expect(next.seed == 8)
        #expect(next.users == first.users)
    }

    // The limit only catches a demo that never stops: alone it takes about 10 s, but the whole
    // suite starts every mock cluster at once on two cores.
    @Test("one demo run: feeder → mock Kafka → pipeline → outputs → view, stopping by itself",
          .timeLimit(.minutes(3)))
    func endToEnd() async throws {
        let lines = Mutex<[String]>([])
        var options = DemoOptions()
        options.durationSeconds = 8
        options.view = .lines
        options.httpPort = 0
        options.handlesSignals = false
        var logger = Logger(label: "demo-test")
        logger.logLevel = .warning
        let metrics = MetricsSetup()
        let report = try await Commands.demo(
            options, registry: metrics.registry, metricsFactory: metrics.factory, logger: logger,
            output: DemoOutput { text in lines.withLock { $0.append(text) } })

        let text = lines.withLock { $0.joined() }
        #expect(report.stats.produced > 0)
        #expect((report.pipelineRead ?? 0) > 0)
        #expect(report.stats.scores > 0)
        #expect(report.stats.snapshots >= 1)
        #expect(report.stats.latestSnapshots.first?.funnel == "default")
        #expect(report.stats.deadLetters == 0)
        #expect(report.stats.unreadable == 0)
        #expect(report.stats.histogram.total == report.stats.scores)
        #expect(text.hasPrefix("FunnelPulse demo: embedded Kafka (librdkafka mock cluster) at \(report.bootstrapServers)"))
        #expect(text.contains("kcat -b \(report.bootstrapServers) -t funnelpulse.scores -C"))
        #expect(text.contains("demo up="))
        #expect(text.contains("demo stopped cleanly: \(report.stats.produced) events produced"))
        let metricsText = metrics.registry.renderedText()
        #expect(metricsText.contains("funnelpulse_events_in_total"))
    }
}

extension PrometheusCollectorRegistry {
    fileprivate func renderedText() -> String {
        var buffer: [UInt8] = []
        emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
