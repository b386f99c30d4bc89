import FunnelCore

/// What `funnelpulse demo` can be told; every field has a default, so `DemoOptions()` is the demo.
public struct DemoOptions: Sendable {
    public enum View: Sendable {
        /// Redraw one screen when standard output is a terminal, plain lines otherwise.
        case automatic
        /// Plain periodic lines (`--no-ui`).
        case lines
    }

    /// Stop by itself after this many seconds; nil runs until SIGINT/SIGTERM.
    public var durationSeconds: Double?
    /// Input events per second of wall time.
    public var eventsPerSecond: Double = 2000
    /// Simulated shoppers.
    public var users: Int = 10_000
    public var seed: UInt64 = 1
    public var view: View = .automatic
    /// Optional configuration YAML; its `engine`, `outputs` and `http` sections apply.
    public var configPath: String?
    /// Overrides `http.port` (tests pass 0 for a free port).
    public var httpPort: Int?
    /// Whether SIGINT/SIGTERM start the graceful shutdown. Off in tests, which share a process
    /// with the test runner.
    public var handlesSignals = true
    /// Seconds between refreshes of the view.
    public var refreshSeconds: Double = 1

    public init() {}

    /// Cross-field checks, with messages phrased for the command line.
    public func validate() throws(Commands.Failure) {
        if let durationSeconds, !(durationSeconds > 0 && durationSeconds <= 31_536_000) {
            throw Commands.Failure("--duration must be between 0 and 31536000 seconds")
        }
        guard eventsPerSecond > 0, eventsPerSecond <= 1_000_000 else {
            throw Commands.Failure("--rate must be between 0 and 1000000 events per second")
        }
        guard users > 0, users <= 10_000_000 else { throw Commands.Failure("--users must be 1 to 10000000") }
        guard refreshSeconds > 0 else { throw Commands.Failure("the refresh interval must be positive") }
        if let httpPort, !(0...65_535).contains(httpPort) {
            throw Commands.Failure("the HTTP port must be 0 to 65535")
        }
    }

    /// The simulator behind the feed. Event time starts at the current hour so that records read
    /// with `kcat` carry plausible dates; it then runs ahead of the wall clock as fast as the rate
    /// implies.
    func simulatorConfig(nowMilliseconds: Int64) -> SimulatorConfig {
        var config = SimulatorConfig()
        config.seed = seed
        config.users = users
        config.start = nowMilliseconds - nowMilliseconds % 3_600_000
        config.incidents = Self.incidents(start: config.start)
        return config
    }

    /// What the demo's alerts panel has to show, every simulated day: bots, a card-testing burst,
    /// many accounts on one device, and broken view tracking.
    static func incidents(start: Int64) -> [Incident] {
        let hour: Int64 = 3_600_000
        return [
            .bots(count: 3, ratePerSecond: 2, start: start + 1 * hour, end: start + 2 * hour),
            .cardTesting(users: 2, attemptsPerUser: 20, approvalRate: 0.3, start: start + 3 * hour, end: start + 4 * hour),
            .sharedDevice(accounts: 30, start: start + 5 * hour, end: start + 6 * hour),
            .trackingBreak(type: .view, start: start + 9 * hour, end: start + 10 * hour),
        ]
    }
}
