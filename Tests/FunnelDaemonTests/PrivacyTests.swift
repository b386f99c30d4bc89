import FunnelTestSupport
import Foundation
import FunnelCore
import FunnelKafka
import Logging
import Synchronization
import Testing

@testable import FunnelDaemon

/// `privacy.pseudonymize_user_ids`: configuration, and no raw user id in any output of a replay
/// or of the `run` pipeline (records, Kafka keys, logs). Every raw id here ends in
/// `@example.org`, which no pseudonym (32 hex characters) can contain.
@Suite("Pseudonymized user ids", .serialized)
struct PrivacyTests {
    static let key = "privacy-test-key-0123456789"
    static let rawMarker = "@example.org"

    /// Shoppers walking the funnel 7 s apart, a user who carts and leaves (cart-abandonment
    /// signal), a user firing 90 events in 45 s (velocity), and one malformed record naming a user.
    static func lines() -> [String] {
        let types = ["page", "view", "cart", "checkout", "purchase"]
        var events: [(Int64, String)] = []
        for i in 0..<500 {
            let ts = 1_700_000_000_000 + Int64(i) * 7_000
            let user = "shopper-\(i % 20)\(rawMarker)"
            events.append((ts, #"{"event_id":"e\#(i)","ts":\#(ts),"user_id":"\#(user)","type":"\#(types[(i / 20) % 5])","item_id":"i\#(i % 7)"}"#))
        }
        events.append((1_700_000_014_000,
                       #"{"event_id":"lonely","ts":1700000014000,"user_id":"lonely\#(rawMarker)","type":"cart","item_id":"i1"}"#))
        for j in 0..<90 {
            let ts = 1_700_000_700_000 + Int64(j) * 500
            events.append((ts, #"{"event_id":"s\#(j)","ts":\#(ts),"user_id":"speedy\#(rawMarker)","type":"\#(j % 2 == 0 ? "page" : "view")"}"#))
        }
        var lines = events.sorted { $0.0 < $1.0 }.map(\.1)
        lines.insert(#"{"event_id":"broken","ts":"never","user_id":"broken\#(rawMarker)"#, at: 40)
        return lines
    }

    static func config(key: String = key) -> FunnelPulseConfig {
        var config = FunnelPulseConfig()
        config.engine = RunSupport.engineConfig()
        config.privacy.pseudonymizeUserIDs = true
        config.privacy.key = key
        return config
    }

    struct ReplayOutput {
        var files: [String: String]
        var scores: [[String: Any]]
        var alerts: [[String: Any]]
    }

    static func replay(_ config: FunnelPulseConfig) throws -> ReplayOutput {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(RunSupport.unique("privacy")).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let input = directory + "-in.jsonl"
        defer { try? FileManager.default.removeItem(atPath: input) }
        try (lines().joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        _ = try ReplayDriver(options: .init(inputs: [input], outputDirectory: directory,
                                            mapping: try CompiledMapping(.canonicalJSON), config: config,
                                            progress: false)).run()
        var files: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            files[name] = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
        }
        func records(_ name: String) throws -> [[String: Any]] {
            try (files[name] ?? "").split(separator: "\n").map {
                try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
        }
        return ReplayOutput(files: files, scores: try records("scores.jsonl"), alerts: try records("alerts.jsonl"))
    }

    // MARK: - Replay

    @Test("no raw user id in any replay output but the dead letter; pseudonyms join scores and alerts")
    func replayHasNoRawIDs() throws {
        let pseudonymizer = UserPseudonymizer(key: Array(Self.key.utf8))
        let output = try Self.replay(Self.config())
        #expect(Set(output.files.keys).isSuperset(of: ["scores.jsonl", "alerts.jsonl", "funnel.jsonl", "summary.json",
                                                       "deadletter.jsonl"]))
        for (name, text) in output.files where name != "deadletter.jsonl" {
            #expect(!text.contains(Self.rawMarker), "\(name) holds a raw user id")
        }
        // Dead letters keep the input record byte for byte, for reprocessing (documented choice).
        #expect(output.files["deadletter.jsonl"]?.contains("broken\(Self.rawMarker)") == true)

        #expect(output.scores.count > 300)
        let users = Set(output.scores.compactMap { $0["user"] as? String })
        let expectedUsers = Set((0..<20).map { pseudonymizer.pseudonym("shopper-\($0)\(Self.rawMarker)") }
            + ["lonely", "speedy"].map { pseudonymizer.pseudonym($0 + Self.rawMarker) })
        #expect(users == expectedUsers)

        let userAlerts = output.alerts.filter { $0["entity_type"] as? String == "user" }
        let lonely = pseudonymizer.pseudonym("lonely\(Self.rawMarker)")
        let speedy = pseudonymizer.pseudonym("speedy\(Self.rawMarker)")
        #expect(userAlerts.contains { $0["kind"] as? String == "cart_abandonment" && $0["entity"] as? String == lonely })
        #expect(userAlerts.contains { $0["kind"] as? String == "velocity" && $0["entity"] as? String == speedy })
        for alert in userAlerts {
            let entity = try #require(alert["entity"] as? String)
            #expect(expectedUsers.contains(entity))
            #expect((alert["alert_id"] as? String)?.contains(entity) == true)
            #expect(AlertRecord.key(Self.alert(from: alert)) == "user:\(entity)")
        }
    }

    static func alert(from record: [String: Any]) -> Alert {
        Alert(id: record["alert_id"] as? String ?? "", kind: AlertKind(rawValue: record["kind"] as? String ?? "") ?? .velocity,
              state: .firing, severity: .warning, time: 0, since: 0, entityType: record["entity_type"] as? String ?? "",
              entity: record["entity"] as? String ?? "", message: "")
    }

    @Test("the same key gives the same outputs; another key other pseudonyms; off writes the raw ids")
    func stableAcrossRunsDifferentAcrossKeys() throws {
        let first = try Self.replay(Self.config())
        let second = try Self.replay(Self.config())
        let otherKey = try Self.replay(Self.config(key: "a-completely-different-key"))
        var off = Self.config()
        off.privacy = .init()
        let raw = try Self.replay(off)

        #expect(first.files["scores.jsonl"] == second.files["scores.jsonl"])
        #expect(first.files["alerts.jsonl"] == second.files["alerts.jsonl"])
        let users = { (output: ReplayOutput) in Set(output.scores.compactMap { $0["user"] as? String }) }
        #expect(users(first).count == 22)
        #expect(users(otherKey).count == 22)
        #expect(users(first).isDisjoint(with: users(otherKey)))
        // Everything but the user fields is the same.
        #expect(first.scores.count == otherKey.scores.count)
        #expect(first.files["funnel.jsonl"] == otherKey.files["funnel.jsonl"])
        // Without the option the ids are there: the checks above can fail.
        #expect(raw.files["scores.jsonl"]?.contains(Self.rawMarker) == true)
        #expect(raw.files["alerts.jsonl"]?.contains("speedy\(Self.rawMarker)") == true)
        #expect(users(raw).contains("speedy\(Self.rawMarker)"))
    }

    // MARK: - Configuration

    static func load(_ yaml: String, secrets: [String: String] = [:]) throws -> FunnelPulseConfig {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(RunSupport.unique("cfg") + ".yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return try ConfigLoader.loadConfig(path: path, environment: [:], secrets: secrets)
    }

    static func loadError(_ yaml: String, secrets: [String: String] = [:]) -> ConfigLoader.LoadError? {
        do {
            _ = try load(yaml, secrets: secrets)
            return nil
        } catch let error as ConfigLoader.LoadError {
            return error
        } catch {
            return ConfigLoader.LoadError(file: "", key: "", message: "unexpected \(error)")
        }
    }

    @Test("refuses to start with the option on and no usable key; key_env is read from the environment")
    func configuration() throws {
        #expect(try Self.load("").privacy == FunnelPulseConfig.Privacy())
        #expect(try Self.load("").privacy.pseudonymizer(environment: [:]) == nil)

        let noKey = Self.loadError("privacy: {pseudonymize_user_ids: true}")
        #expect(noKey?.key == "privacy.key_env")
        #expect(noKey?.message.contains("no key") == true)

        let unset = Self.loadError("privacy: {pseudonymize_user_ids: true, key_env: FP_TEST_PSEUDONYM_KEY}")
        #expect(unset?.key == "privacy.key_env")
        #expect(unset?.message.contains("FP_TEST_PSEUDONYM_KEY") == true)

        let short = Self.loadError("privacy: {pseudonymize_user_ids: true, key_env: K}", secrets: ["K": "short"])
        #expect(short?.message.contains("too short") == true)
        #expect(short?.message.contains("short\"") != true, "the key itself is never echoed")

        let both = Self.loadError("privacy: {pseudonymize_user_ids: true, key: \(Self.key), key_env: K}",
                                  secrets: ["K": Self.key])
        #expect(both?.key == "privacy.key")

        let typo = Self.loadError("privacy: {pseudonymise_user_ids: true}")
        #expect(typo?.key == "privacy.pseudonymise_user_ids")

        let fromEnv = try Self.load("privacy: {pseudonymize_user_ids: true, key_env: K}", secrets: ["K": Self.key])
        let pseudonymizer = try #require(try fromEnv.privacy.pseudonymizer(environment: ["K": Self.key]))
        #expect(pseudonymizer.pseudonym("x") == UserPseudonymizer(key: Array(Self.key.utf8)).pseudonym("x"))
        // The engine the daemon builds carries it; a config built in code fails the same way.
        #expect(try fromEnv.makeEngine(environment: ["K": Self.key]).userPseudonymizer != nil)
        #expect(throws: ConfigError.self) { try fromEnv.makeEngine(environment: [:]) }

        // The key never reaches the start-up log line.
        var inline = FunnelPulseConfig()
        inline.privacy.pseudonymizeUserIDs = true
        inline.privacy.key = Self.key
        let dump = "\(ConfigRedaction.metadata(inline))"
        #expect(!dump.contains(Self.key))
        #expect(dump.contains("pseudonymize_user_ids"))
        #expect("\(ConfigRedaction.metadata(fromEnv))".contains("$K"))
    }

    // MARK: - run (mock cluster)

    @Test("run: score records, their keys, alerts and logs carry no raw user id", .timeLimit(.minutes(1)))
    func runPipelineHasNoRawIDs() async throws {
        let cluster = try KafkaMockCluster()
        var config = RunSupport.config(bootstrap: cluster.bootstrapServers)
        config.privacy.pseudonymizeUserIDs = true
        config.privacy.key = Self.key
        try RunSupport.createTopics(config, on: cluster)
        let lines = Self.lines()
        try RunSupport.produce(lines, topic: config.inputs[0].topic, bootstrap: cluster.bootstrapServers)

        let logs = LogCapture()
        let logger = Logger(label: "privacy-run") { _ in logs.handler() }
        let pipeline = try Pipeline(config: config, mappings: [try CompiledMapping(.canonicalJSON)], logger: logger,
                                    metrics: PipelineMetrics(factory: MetricsSetup().factory))
        let task = Task { try await pipeline.run() }
        let done = try await RunSupport.eventually(seconds: 30) {
            try RunSupport.committed(config)[0] == Int64(lines.count)
        }
        pipeline.requestStop()
        try await task.value
        #expect(done)
        let outputs = try await RunSupport.collect(config, seconds: 20) { [config] outputs in
            outputs.on(config.outputs.alerts).contains { $0.value.contains("\"velocity\"") }
                && outputs.on(config.outputs.scores).count > 300
        }
        let pseudonymizer = UserPseudonymizer(key: Array(Self.key.utf8))
        let scores = outputs.on(config.outputs.scores)
        let alerts = outputs.on(config.outputs.alerts)
        #expect(scores.count > 300)
        #expect(alerts.contains { $0.key == "user:" + pseudonymizer.pseudonym("speedy\(Self.rawMarker)") })
        for output in outputs where output.topic != config.outputs.deadletter {
            #expect(!output.value.contains(Self.rawMarker), "\(output.topic): \(output.value)")
            #expect(output.key?.contains(Self.rawMarker) != true, "\(output.topic) key: \(output.key ?? "")")
        }
        for score in scores {
            let user = try #require(score.key)
            #expect(user.utf8.count == UserPseudonymizer.length)
            #expect(score.value.contains(#""user":"\#(user)""#), "the record and its key carry the same pseudonym")
        }
        let logged = logs.lines
        #expect(!logged.isEmpty)
        #expect(logged.allSatisfy { !$0.contains(Self.rawMarker) && !$0.contains(Self.key) })
    }
}

extension PrivacyTests {
    @Test("run with checkpoints: after a restart from a checkpoint user ids are still pseudonymized",
          .timeLimit(.minutes(2)))
    func pseudonymizationSurvivesACheckpointRestart() async throws {
        let cluster = try KafkaMockCluster()
        var config = RunSupport.config(bootstrap: cluster.bootstrapServers)
        config.privacy.pseudonymizeUserIDs = true
        config.privacy.key = Self.key
        try RunSupport.createTopics(config, on: cluster)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(RunSupport.unique("ckpt")).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        config.checkpoint.directory = directory
        config.checkpoint.intervalSeconds = 1
        config.engine.maxUsers = 10_000  // small checkpoints (debug builds write them slowly)
        let lines = Self.lines()
        let half = lines.count / 2
        let logs = LogCapture()
        func run(until count: Int) async throws -> Bool {
            let pipeline = try Pipeline(config: config, mappings: [try CompiledMapping(.canonicalJSON)],
                                        logger: Logger(label: "privacy-ckpt") { _ in logs.handler() },
                                        metrics: PipelineMetrics(factory: MetricsSetup().factory))
            let task = Task { try await pipeline.run() }
            let done = try await RunSupport.eventually(seconds: 30) { try RunSupport.committed(config)[0] == Int64(count) }
            pipeline.requestStop()
            try await task.value
            return done
        }
        try RunSupport.produce(Array(lines[..<half]), topic: config.inputs[0].topic, bootstrap: cluster.bootstrapServers)
        #expect(try await run(until: half))
        try RunSupport.produce(Array(lines[half...]), topic: config.inputs[0].topic, bootstrap: cluster.bootstrapServers)
        #expect(try await run(until: lines.count))
        #expect(logs.lines.contains { $0.contains("state restored from checkpoint") }, "the second run restored")

        let outputs = try await RunSupport.collect(config, seconds: 20) { [config] outputs in
            outputs.on(config.outputs.scores).count > 300
                && outputs.on(config.outputs.alerts).contains { $0.value.contains("\"cart_abandonment\"") }
        }
        let pseudonymizer = UserPseudonymizer(key: Array(Self.key.utf8))
        // The lonely cart was opened in the first run and signalled in the second, from restored state.
        #expect(outputs.on(config.outputs.alerts).contains {
            $0.key == "user:" + pseudonymizer.pseudonym("lonely\(Self.rawMarker)") && $0.value.contains("cart_abandonment")
        })
        for output in outputs where output.topic != config.outputs.deadletter {
            #expect(!output.value.contains(Self.rawMarker), "\(output.topic): \(output.value)")
            #expect(output.key?.contains(Self.rawMarker) != true)
        }
        #expect(logs.lines.allSatisfy { !$0.contains(Self.rawMarker) && !$0.contains(Self.key) })
    }
}

/// Every log line (message and metadata), at every level.
final class LogCapture: Sendable {
    private let storage = Mutex<[String]>([])
    var lines: [String] { storage.withLock { $0 } }

    func handler() -> CaptureHandler { CaptureHandler(capture: self) }

    func append(_ line: String) { storage.withLock { $0.append(line) } }

    struct CaptureHandler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            capture.append("\(event.level) \(event.message) \(metadata.merging(event.metadata ?? [:]) { $1 })")
        }
    }
}
