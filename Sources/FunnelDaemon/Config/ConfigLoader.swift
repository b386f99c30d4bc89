import FunnelCore
import Foundation
import Yams

/// Loads configuration and mapping files: YAML → Codable with defaults, unknown keys refused,
/// environment overrides, validation. Every error names the file and the offending key.
public enum ConfigLoader {
    public struct LoadError: Error, CustomStringConvertible {
        public var file: String
        public var key: String
        public var message: String
        public var description: String { key.isEmpty ? "\(file): \(message)" : "\(file): \(key): \(message)" }
    }

    /// Reads a config file ("" = defaults), applies `FUNNELPULSE_*` environment overrides, validates.
    /// `secrets` is where `privacy.key_env` is looked up (the process environment even when
    /// `environment` overrides are off, as for `replay`).
    public static func loadConfig(path: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                                  secrets: [String: String] = ProcessInfo.processInfo.environment)
        throws -> FunnelPulseConfig
    {
        var config = FunnelPulseConfig()
        if !path.isEmpty {
            let text = try readText(path)
            config = try decode(FunnelPulseConfig.self, yaml: text, file: path, freeForm: ["kafka.librdkafka"])
        }
        try applyEnvironment(&config, environment)
        do {
            try config.validate()
            // Refuse to start now, not at the first output, when the pseudonymization key is unusable.
            _ = try config.privacy.pseudonymizer(environment: secrets)
        } catch {
            throw LoadError(file: path.isEmpty ? "(defaults)" : path, key: error.key, message: error.message)
        }
        return config
    }

    /// Reads a mapping file and compiles it.
    public static func loadMapping(path: String) throws -> CompiledMapping {
        let text = try readText(path)
        let spec = try decode(MappingSpec.self, yaml: text, file: path, freeForm: ["fields", "types"])
        do {
            return try CompiledMapping(spec)
        } catch let error as MappingError {
            throw LoadError(file: path, key: error.key, message: error.message)
        }
    }

    static func readText(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LoadError(file: path, key: "", message: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw LoadError(file: path, key: "", message: "is not UTF-8 text")
        }
        return text
    }

    /// Decodes YAML, then refuses keys the type doesn't know (Codable alone would ignore them).
    static func decode<T: Codable>(_ type: T.Type, yaml: String, file: String, freeForm: Set<String>) throws -> T {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw LoadError(file: file, key: "", message: "is not valid YAML: \(error)")
        }
        guard let node else { return try YAMLDecoder().decode(T.self, from: "{}") }
        let value: T
        do {
            value = try YAMLDecoder().decode(T.self, from: node)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw LoadError(file: file, key: path(context.codingPath), message: context.debugDescription)
        } catch let DecodingError.dataCorrupted(context) {
            throw LoadError(file: file, key: path(context.codingPath), message: context.debugDescription)
        } catch let DecodingError.keyNotFound(key, context) {
            throw LoadError(file: file, key: path(context.codingPath + [key]), message: "is required")
        } catch {
            throw LoadError(file: file, key: "", message: "\(error)")
        }
        // Re-encode the fully defaulted value: every key it has is a known key.
        let known = try Yams.compose(yaml: YAMLEncoder().encode(value))
        if let unknown = firstUnknownKey(node, known: known, path: "", freeForm: freeForm) {
            throw LoadError(file: file, key: unknown, message: "unknown key")
        }
        return value
    }

    static func path(_ codingPath: [any CodingKey]) -> String {
        codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            .trimmingCharacters(in: CharacterSet(charactersIn: "."))
            .replacingOccurrences(of: ".[", with: "[")
    }

    static func firstUnknownKey(_ node: Node, known: Node?, path: String, freeForm: Set<String>) -> String? {
        if freeForm.contains(path) { return nil }
        switch node {
        case .mapping(let mapping):
            guard case .mapping(let knownMapping)? = known else { return nil }
            for (key, value) in mapping {
                guard let name = key.string else { return path.isEmpty ? "(non-string key)" : path }
                let child = path.isEmpty ? name : "\(path).\(name)"
                guard let knownValue = knownMapping[Node(name)] else { return child }
                if let unknown = firstUnknownKey(value, known: knownValue, path: child, freeForm: freeForm) {
                    return unknown
                }
            }
            return nil
        case .sequence(let sequence):
            guard case .sequence(let knownSequence)? = known else { return nil }
            for (i, element) in sequence.enumerated() where i < knownSequence.count {
                if let unknown = firstUnknownKey(element, known: knownSequence[i], path: "\(path)[\(i)]",
                                                 freeForm: freeForm.union([path + "[\(i)]"].filter { _ in freeForm.contains(path + "[]") })) {
                    return unknown
                }
            }
            return nil
        default:
            return nil
        }
    }

    /// `FUNNELPULSE_KAFKA_BOOTSTRAP_SERVERS`, `FUNNELPULSE_KAFKA_GROUP_ID`, `FUNNELPULSE_HTTP_HOST`,
    /// `FUNNELPULSE_HTTP_PORT`, `FUNNELPULSE_LOG_LEVEL`, `FUNNELPULSE_LOG_FORMAT`, and
    /// `FUNNELPULSE_LIBRDKAFKA_<PROPERTY>` (dots as underscores, e.g. `..._SASL_PASSWORD`).
    static func applyEnvironment(_ config: inout FunnelPulseConfig, _ env: [String: String]) throws {
        if let v = env["FUNNELPULSE_KAFKA_BOOTSTRAP_SERVERS"] { config.kafka.bootstrapServers = v }
        if let v = env["FUNNELPULSE_KAFKA_GROUP_ID"] { config.kafka.groupID = v }
        if let v = env["FUNNELPULSE_HTTP_HOST"] { config.http.host = v }
        if let v = env["FUNNELPULSE_HTTP_PORT"] {
            guard let port = Int(v) else {
                throw LoadError(file: "environment", key: "FUNNELPULSE_HTTP_PORT", message: "'\(v)' is not a port number")
            }
            config.http.port = port
        }
        if let v = env["FUNNELPULSE_LOG_LEVEL"] { config.log.level = v }
        if let v = env["FUNNELPULSE_LOG_FORMAT"] { config.log.format = v }
        for (key, value) in env where key.hasPrefix("FUNNELPULSE_LIBRDKAFKA_") {
            let property = key.dropFirst("FUNNELPULSE_LIBRDKAFKA_".count).lowercased().replacingOccurrences(of: "_", with: ".")
            config.kafka.librdkafka[property] = value
        }
    }
}
