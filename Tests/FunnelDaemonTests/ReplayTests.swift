import Foundation
import Testing
@testable import FunnelCore
@testable import FunnelDaemon

/// `replay` end to end: the real Taobao slice through the shipped mapping, and determinism.
@Suite("Replay", .serialized)
struct ReplayTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let taobao = repoRoot.deletingLastPathComponent()
        .appendingPathComponent("shared/data/taobao_userbehavior_20171126_0100-0310utc.csv").path
    static let taobaoMapping = repoRoot.appendingPathComponent("deploy/mappings/taobao-userbehavior.yaml").path

    static func tempDir() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fp-replay-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func json(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: taobao), "the shared Taobao slice is not present"))
    func taobaoSliceThroughShippedMapping() throws {
        let out = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: out) }
        var config = FunnelPulseConfig()
        config.engine.model.enabled = false
        let mapping = try ConfigLoader.loadMapping(path: Self.taobaoMapping)
        let result = try ReplayDriver(options: .init(inputs: [Self.taobao], outputDirectory: out, mapping: mapping,
                                                     config: config, progress: false)).run()
        #expect(result.stats.read == 110_300)
        #expect(result.stats.rejectedTotal == 0)
        #expect(result.stats.accepted == 110_300)
        #expect(result.users == 66_454)

        // Funnel totals computed independently: per-user lazy expiry over the time-sorted file.
        let expected = try Self.independentFunnel(path: Self.taobao, window: 1800)
        let summary = try Self.json(out + "/summary.json")
        let funnels = try #require(summary["funnels"] as? [[String: Any]])
        let steps = try #require(funnels.first?["steps"] as? [[String: Any]])
        for (i, step) in steps.enumerated() {
            #expect(step["entered"] as? Int == expected.entered[i], "entered at step \(i)")
            #expect(step["converted"] as? Int == expected.converted[i], "converted at step \(i)")
            #expect(step["dropped"] as? Int == expected.dropped[i], "dropped at step \(i)")
            #expect(step["in_flight"] as? Int == expected.inFlight[i], "in flight at step \(i)")
        }
        // The closed minute windows add up to the run totals.
        let lines = try String(contentsOfFile: out + "/funnel.jsonl", encoding: .utf8).split(separator: "\n")
        var entered = 0
        for line in lines {
            let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let s = try #require(record["steps"] as? [[String: Any]])
            entered += (s[0]["entered"] as? Int) ?? 0
        }
        #expect(entered == expected.entered[0])
    }

    /// The default funnel's rules, written differently from the engine: visit = any type, then
    /// view → cart → checkout → purchase, one event moving through every consecutive step it
    /// matches, a 30-minute window from the first step, expiry strictly after start + window.
    static func independentFunnel(path: String, window: Int64)
        throws -> (entered: [Int], converted: [Int], dropped: [Int], inFlight: [Int])
    {
        let steps: [Set<String>] = [[], ["pv"], ["cart"], ["checkout"], ["buy"]]
        var entered = [Int](repeating: 0, count: 5), converted = entered, dropped = entered, inFlight = entered
        var open: [Substring: (step: Int, start: Int64)] = [:]
        var maxTs: Int64 = 0
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ",")
            let user = f[0], type = String(f[3])
            guard let ts = Int64(f[4]) else { continue }
            maxTs = max(maxTs, ts)
            if let a = open[user], ts > a.start + window {
                dropped[a.step] += 1
                open[user] = nil
            }
            var step: Int
            var start: Int64
            if let a = open[user] {
                (step, start) = (a.step, a.start)
            } else {
                (step, start) = (0, ts)
                entered[0] += 1
            }
            while step + 1 < 5 && steps[step + 1].contains(type) {
                converted[step] += 1
                step += 1
                entered[step] += 1
            }
            open[user] = step == 4 ? nil : (step, start)
        }
        for (_, a) in open {
            if a.start + window <= maxTs { dropped[a.step] += 1 } else { inFlight[a.step] += 1 }
        }
        return (entered, converted, dropped, inFlight)
    }

    @Test func replayIsDeterministic() throws {
        // A simulated stream with some disorder, a few bad records, and the model on.
        var sim = SimulatorConfig()
        sim.users = 400
        sim.events = 6000
        sim.disorder = 0.02
        sim.disorderMaxMillis = 3000
        var simulator = Simulator(config: sim)
        var bytes: [UInt8] = []
        var n = 0
        var bad = 0
        while simulator.next(into: &bytes) {
            n += 1
            if n % 1000 == 0 {
                bytes += Array("{\"user_id\":\"x\",\"type\":\"teleport\",\"ts\":1700000000}\nnot json\n".utf8)
                bad += 2
            }
        }
        #expect(bad > 0)
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = dir + "/in.jsonl"
        try Data(bytes).write(to: URL(fileURLWithPath: input))
        let mapping = try CompiledMapping(.canonicalJSON)
        var outputs: [[String: Data]] = []
        for run in 0..<2 {
            let out = dir + "/out\(run)"
            _ = try ReplayDriver(options: .init(inputs: [input], outputDirectory: out, mapping: mapping,
                                                config: FunnelPulseConfig(), progress: false)).run()
            var files: [String: Data] = [:]
            for name in ["funnel.jsonl", "deadletter.jsonl", "scores.jsonl"] {
                files[name] = try Data(contentsOf: URL(fileURLWithPath: out + "/" + name))
            }
            var summary = try Self.json(out + "/summary.json")
            summary["performance"] = nil
            files["summary"] = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
            outputs.append(files)
        }
        #expect(outputs[0] == outputs[1])
        #expect((outputs[0]["scores.jsonl"]?.count ?? 0) > 0)
        #expect((outputs[0]["funnel.jsonl"]?.count ?? 0) > 0)
        let deadLetters = String(decoding: outputs[0]["deadletter.jsonl"] ?? Data(), as: UTF8.self)
        #expect(deadLetters.split(separator: "\n").count == bad)
    }

    @Test func configErrorsNameTheKey() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bad.yaml"
        try "engine:\n  windw_seconds: [60]\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect {
            try ConfigLoader.loadConfig(path: path, environment: [:])
        } throws: { error in
            "\(error)".contains("engine.windw_seconds") && "\(error)".contains("unknown key")
        }
        try "engine:\n  max_users: 0\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect {
            try ConfigLoader.loadConfig(path: path, environment: [:])
        } throws: { error in
            "\(error)".contains("engine.max_users")
        }
        try "kafka:\n  librdkafka:\n    security.protocol: ssl\n".write(toFile: path, atomically: true, encoding: .utf8)
        let ok = try ConfigLoader.loadConfig(path: path, environment: ["FUNNELPULSE_HTTP_PORT": "9999"])
        #expect(ok.kafka.librdkafka["security.protocol"] == "ssl")
        #expect(ok.http.port == 9999)
    }

    @Test func shippedFilesAreValid() throws {
        for name in ["taobao-userbehavior", "retailrocket-events", "rees46-ecommerce", "funnelpulse-json"] {
            _ = try ConfigLoader.loadMapping(path: Self.repoRoot.appendingPathComponent("deploy/mappings/\(name).yaml").path)
        }
        let builtIn = try ConfigLoader.loadMapping(
            path: Self.repoRoot.appendingPathComponent("deploy/mappings/funnelpulse-json.yaml").path)
        #expect(builtIn.spec.fields == MappingSpec.canonicalJSON.fields)
        _ = try ConfigLoader.loadConfig(path: Self.repoRoot.appendingPathComponent("deploy/funnelpulse.yaml").path,
                                        environment: [:])
    }
}
