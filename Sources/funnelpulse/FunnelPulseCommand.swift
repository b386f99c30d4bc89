import ArgumentParser
import FunnelDaemon

@main
struct FunnelPulseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "funnelpulse",
        abstract: "Real-time conversion funnels, live conversion scores and alerts from clickstreams.",
        subcommands: [DemoCommand.self, RunCommand.self, ReplayCommand.self, SimulateCommand.self, ConfigCommand.self])
}

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Everything in one process: embedded Kafka, simulated clickstream, the daemon, a live view.")

    @Option(name: .long, help: "Stop after this many seconds (default: run until Ctrl-C/SIGTERM).")
    var duration: Double?

    @Option(name: .long, help: "Input events per second of wall time.")
    var rate: Double = 2000

    @Option(name: .long, help: "Simulated users.")
    var users: Int = 10_000

    @Option(name: .long, help: "Simulator seed.")
    var seed: UInt64 = 1

    @Flag(name: .customLong("no-ui"), help: "Plain periodic lines instead of the redrawn screen (automatic when not a terminal).")
    var noUI = false

    @Option(name: .long, help: "Configuration YAML; its engine, outputs and http sections apply.")
    var config: String?

    var options: DemoOptions {
        var options = DemoOptions()
        options.durationSeconds = duration
        options.eventsPerSecond = rate
        options.users = users
        options.seed = seed
        options.view = noUI ? .lines : .automatic
        options.configPath = config
        return options
    }

    func validate() throws {
        do {
            try options.validate()
        } catch {
            throw ValidationError(error.description)
        }
    }

    func run() async throws {
        let options = self.options
        Commands.bootstrapDemoLogging(view: options.view)
        let registry = MetricsSetup.bootstrap()
        _ = try await Commands.demo(options, registry: registry)
    }
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon: Kafka input topics → engine → Kafka output topics, until SIGTERM/SIGINT.")

    @Option(name: .long, help: "Configuration YAML (see deploy/funnelpulse.yaml).")
    var config: String

    func run() async throws {
        let settings = try Commands.loadRunConfig(path: config)
        Commands.bootstrapLogging(settings.log)
        let registry = MetricsSetup.bootstrap()
        try await Commands.run(config: settings, registry: registry)
    }
}

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Run the engine over files in event-time order (backtests, benchmarks).")

    @Option(name: .long, parsing: .upToNextOption, help: "Input files (JSON lines or CSV, per the mapping).")
    var input: [String] = []

    @Option(name: .long, help: "Mapping YAML (default: the built-in FunnelPulse JSON mapping).")
    var mapping: String?

    @Option(name: .long, help: "Configuration YAML (its `engine` section applies).")
    var config: String?

    @Option(name: .long, help: "Output directory.")
    var out: String

    @Flag(name: .long, help: "Never draw the progress bar.")
    var quiet = false

    @Option(name: .customLong("model-in"), help: "Start the conversion model from this saved model file.")
    var modelIn: String?

    @Option(name: .customLong("model-out"), help: "Save the conversion model here at the end of the replay.")
    var modelOut: String?

    func validate() throws {
        guard !input.isEmpty else { throw ValidationError("give at least one --input FILE") }
    }

    func run() async throws {
        try Commands.replay(inputs: input, mapping: mapping, config: config, out: out, quiet: quiet,
                            modelIn: modelIn, modelOut: modelOut)
    }
}

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Write a synthetic clickstream (JSON lines, with ground truth) from a seed.")

    @Option(name: .long, help: "Output file ('-' for standard output).")
    var out: String = "-"

    @Option(name: .long, help: "Random seed (default 1).")
    var seed: UInt64?

    @Option(name: .long, help: "Number of users (default 10000).")
    var users: Int?

    @Option(name: .long, help: "Stop after this many events (default: when the duration ends).")
    var events: Int?

    @Option(name: .long, help: "Simulated span in hours (default 24).")
    var hours: Double?

    @Option(name: .long, help: "Simulator settings YAML (incidents etc.); flags override it.")
    var settings: String?

    @Option(name: .long, help: "Where to write the incidents' ground truth (JSON).")
    var truthOut: String?

    func run() async throws {
        try Commands.simulate(out: out, seed: seed, users: users, events: events, durationHours: hours,
                              settings: settings, truthOut: truthOut)
    }
}

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Configuration tools.", subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check", abstract: "Validate a configuration file (and the mappings it names).")

        @Argument(help: "The configuration YAML.")
        var file: String

        func run() async throws {
            try Commands.checkConfig(path: file)
        }
    }
}
