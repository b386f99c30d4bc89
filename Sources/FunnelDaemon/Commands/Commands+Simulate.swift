import FunnelCore
import Foundation
import Yams

extension Commands {
    /// `funnelpulse simulate`: writes the built-in simulator's clickstream as JSON lines.
    public static func simulate(out: String, seed: UInt64?, users: Int?, events: Int?, durationHours: Double?,
                                settings: String?, truthOut: String?) throws {
        var config = SimulatorConfig()
        if let settings {
            config = try ConfigLoader.decode(SimulatorConfig.self, yaml: ConfigLoader.readText(settings),
                                             file: settings, freeForm: ["incidents"])
        }
        if let seed { config.seed = seed }
        if let users { config.users = users }
        if let events { config.events = events }
        if let durationHours { config.duration = Int64(durationHours * 3_600_000) }
        guard config.users > 0 else { throw Failure("--users must be positive") }
        guard config.events > 0 else { throw Failure("--events must be positive") }
        var simulator = Simulator(config: config)
        let output = try FileOutput(path: out)
        var line: [UInt8] = []
        line.reserveCapacity(512)
        while true {
            line.removeAll(keepingCapacity: true)
            guard simulator.next(into: &line) else { break }
            try line.withUnsafeBytes { try output.write($0) }
        }
        try output.flush()
        if let truthOut {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(simulator.truth).write(to: URL(fileURLWithPath: truthOut))
        }
        writeStderr("simulate: \(simulator.eventsEmitted) events, \(config.users) users, seed \(config.seed) → \(out)\n")
    }
}
