import ArgumentParser
import FunnelDaemon

@main
struct FunnelPulseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "funnelpulse",
        abstract: "Real-time conversion funnels, live conversion scores and alerts from clickstreams.",
        subcommands: [ReplayCommand.self, SimulateCommand.self, ConfigCommand.self])
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

    func validate() throws {
        guard !input.isEmpty else { throw ValidationError("give at least one --input FILE") }
    }

    func run() async throws {
        try Commands.replay(inputs: input, mapping: mapping, config: config, out: out, quiet: quiet)
    }
}

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Write a synthetic clickstream (JSON lines, with ground truth) from a seed.")

    @Option(name: .long, help: "Output file ('-' for standard output).")
    var out: String = "-"

    @Option(name: .long, help: "Random seed.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Number of users.")
    var users: Int = 10_000

    @Option(name: .long, help: "Stop after this many events.")
    var events: Int = 100_000

    @Option(name: .long, help: "Simulator settings YAML (incidents etc.); flags override it.")
    var settings: String?

    @Option(name: .long, help: "Where to write the incidents' ground truth (JSON).")
    var truthOut: String?

    func run() async throws {
        try Commands.simulate(out: out, seed: seed, users: users, events: events, settings: settings,
                              truthOut: truthOut)
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
