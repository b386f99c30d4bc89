import FunnelCore
import Foundation

/// What the CLI's subcommands do, kept here so they are testable without the executable.
public enum Commands {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    public static func replay(inputs: [String], mapping: String?, config: String?, out: String, quiet: Bool,
                              modelIn: String? = nil, modelOut: String? = nil) throws {
        let cfg = try ConfigLoader.loadConfig(path: config ?? "", environment: [:])
        let compiled = try resolveMapping(path: mapping, config: cfg)
        let driver = ReplayDriver(options: .init(inputs: inputs, outputDirectory: out, mapping: compiled,
                                                 config: cfg, progress: !quiet, modelIn: modelIn, modelOut: modelOut))
        let result = try driver.run()
        let s = result.stats
        writeStderr(
            "replay: \(s.read) records, \(s.accepted) accepted, \(s.rejectedTotal) rejected, "
                + "\(s.duplicates) duplicates; \(result.users) users; \(result.snapshots) funnel snapshots; "
                + "\(Int(result.eventsPerSecond)) events/s → \(out)\n")
    }

    static func resolveMapping(path: String?, config: FunnelPulseConfig) throws -> CompiledMapping {
        if let path { return try ConfigLoader.loadMapping(path: path) }
        if let first = config.inputs.first, !first.mapping.isEmpty {
            return try ConfigLoader.loadMapping(path: first.mapping)
        }
        return try CompiledMapping(.canonicalJSON)
    }

    public static func checkConfig(path: String) throws {
        let config = try ConfigLoader.loadConfig(path: path)
        for input in config.inputs where !input.mapping.isEmpty {
            _ = try ConfigLoader.loadMapping(path: input.mapping)
        }
        _ = try Engine(config: config.engine)
        print("\(path): ok (\(config.inputs.count) input(s), \(config.engine.funnels.count) funnel(s))")
    }
}

func writeStderr(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}
