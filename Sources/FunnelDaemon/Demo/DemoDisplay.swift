import ServiceLifecycle

/// Where the demo's text goes: standard output normally, a collecting closure in tests.
public struct DemoOutput: Sendable {
    public let write: @Sendable (String) -> Void

    public init(write: @escaping @Sendable (String) -> Void) {
        self.write = write
    }

    public static let standardOutput = DemoOutput { StandardOutput.write($0) }
}

/// Refreshes the view about once a second until graceful shutdown, then shows the final state.
///
/// With a terminal it redraws one screen in place (cursor home, overwrite, clear the rest) rather
/// than clearing first, which would flicker; otherwise it writes one plain line per refresh, which
/// is what CI logs and `--no-ui` want.
struct DemoDisplay: Service {
    enum Mode: Sendable {
        case screen
        case lines
    }

    let mode: Mode
    let interval: Duration
    let board: DemoBoard
    let health: PipelineHealth
    let output: DemoOutput
    /// Filled in once the cluster and endpoint exist (shown in every frame).
    let bootstrapServers: String
    let scoresTopic: String
    let metricsURL: String?

    private static let escape = "\u{1B}["

    func run() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        var previous: (at: ContinuousClock.Instant, produced: Int, outputs: Int)?
        if mode == .screen { output.write(Self.escape + "?25l" + Self.escape + "2J") }
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            // Cut short by shutdown, so the final frame below follows the stop without delay.
            try? await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
            guard !Task.isShuttingDownGracefully, !Task.isCancelled else { break }
            let now = clock.now
            let stats = board.stats
            var rates: (Double, Double)?
            if let previous {
                let seconds = (now - previous.at).inSeconds
                if seconds > 0 {
                    rates = (Double(stats.produced - previous.produced) / seconds,
                             Double(stats.outputs - previous.outputs) / seconds)
                }
            }
            previous = (now, stats.produced, stats.outputs)
            draw(makeFrame(stats: stats, uptime: now - start, rates: rates))
        }
        // This service stops after the reader, so these are the final counts.
        draw(makeFrame(stats: board.stats, uptime: clock.now - start, rates: nil))
        if mode == .screen { output.write(Self.escape + "?25h") }
    }

    private func makeFrame(stats: DemoStats, uptime: Duration, rates: (Double, Double)?) -> DemoFrame {
        DemoFrame(
            bootstrapServers: bootstrapServers, scoresTopic: scoresTopic, metricsURL: metricsURL,
            uptimeSeconds: Int(uptime.components.seconds), stats: stats,
            eventsInRate: rates?.0, outputsRate: rates?.1, health: health.snapshot)
    }

    private func draw(_ frame: DemoFrame) {
        switch mode {
        case .screen:
            let clearLine = Self.escape + "K"
            let body = DemoView.frame(frame).map { $0 + clearLine }.joined(separator: "\n")
            output.write(Self.escape + "H" + body + "\n" + Self.escape + "J")
        case .lines:
            output.write(DemoView.logLine(frame) + "\n")
        }
    }
}
