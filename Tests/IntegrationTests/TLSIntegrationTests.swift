import FunnelTestSupport
import Foundation
import FunnelCore
import FunnelKafka
import Testing

@testable import FunnelDaemon

/// The TLS listener `scripts/test.sh` started: a second Tansu behind the ApiVersions proxy in
/// TLS mode (the proxy terminates TLS; Tansu 0.6.0 cannot), with a throwaway CA made by openssl.
let tlsBootstrap = ProcessInfo.processInfo.environment["FUNNELPULSE_TEST_TLS_BOOTSTRAP"]
let tlsCA = ProcessInfo.processInfo.environment["FUNNELPULSE_TEST_TLS_CA"]
let tlsOtherCA = ProcessInfo.processInfo.environment["FUNNELPULSE_TEST_TLS_OTHER_CA"]

/// `funnelpulse run` with `kafka.librdkafka: {security.protocol: ssl, ssl.ca.location: …}`.
/// librdkafka 2.0.2 also checks the broker's name (`ssl.endpoint.identification.algorithm`
/// defaults to `https`): the certificate is made for 127.0.0.1.
@Suite(
    "Run pipeline over TLS",
    .serialized,
    .enabled(if: tlsBootstrap != nil && tlsCA != nil && tlsOtherCA != nil,
             "FUNNELPULSE_TEST_TLS_BOOTSTRAP / _TLS_CA / _TLS_OTHER_CA are not set; run ./scripts/test.sh")
)
struct TLSIntegrationTests {
    static func config(trusting ca: String) -> FunnelPulseConfig {
        var config = RunSupport.config(bootstrap: tlsBootstrap ?? "", partitions: 1, createTopics: true)
        config.kafka.librdkafka["security.protocol"] = "ssl"
        config.kafka.librdkafka["ssl.ca.location"] = ca
        return config
    }

    @Test("inputs in, scores, snapshots, alerts and dead letters out, offsets committed: all over TLS",
          .timeLimit(.minutes(2)))
    func endToEndOverTLS() async throws {
        let config = Self.config(trusting: tlsCA ?? "")
        var lines: [String?] = RunSupport.events(300)
        lines.insert(#"{"event_id":"lonely","ts":1700000014000,"user_id":"lonely","type":"cart","item_id":"i1"}"#, at: 2)
        lines.insert("not json at all", at: 100)
        let expected = try RunSupport.expected(lines, config: config.engine)
        #expect(expected.deadLetters == 1)
        #expect(!expected.alerts.isEmpty)

        let started = ContinuousClock.now
        let pipeline = try RunSupport.makePipeline(config)
        let task = Task { try await pipeline.run() }
        _ = try await RunSupport.eventually(seconds: 30) { pipeline.health.snapshot.started }
        try RunSupport.produce(lines, topic: config.inputs[0].topic, bootstrap: config.kafka.bootstrapServers,
                               settings: RunSupport.securitySettings(config))
        let total = expected.deadLetters + expected.snapshots.count + expected.scoredEventIDs.count + expected.alerts.count
        let outputs = try await RunSupport.collect(config, seconds: 60) { $0.count >= total }
        let committed = try await RunSupport.eventually(seconds: 20) {
            try RunSupport.committed(config)[0] == Int64(lines.count)
        }
        pipeline.requestStop()
        try await task.value
        let elapsed = ContinuousClock.now - started

        let scores = outputs.on(config.outputs.scores).compactMap { RunIntegrationTests.eventID($0.value) }
        #expect(scores.count == expected.scoredEventIDs.count)
        #expect(Set(scores) == Set(expected.scoredEventIDs))
        #expect(outputs.on(config.outputs.deadletter).count == 1)
        #expect(outputs.on(config.outputs.funnel).map(\.value) == expected.snapshots)
        #expect(outputs.on(config.outputs.alerts).map(\.value) == expected.alerts)
        #expect(committed)
        #expect(pipeline.health.snapshot.failure == nil)
        print("TLS end to end: \(lines.count) inputs, \(outputs.count) outputs in \(elapsed)")
    }

    @Test("a broker certificate signed by another CA stops the pipeline with the TLS error, not a hang",
          .timeLimit(.minutes(1)))
    func wrongCAFailsClearly() async throws {
        // create_topics on, as in production: the admin client's CreateTopics reports the handshake
        // failure at once (it would otherwise wait out its 10 s timeout and go on); with it off,
        // the consumer's error callback stops the pipeline the same way (next test).
        let config = Self.config(trusting: tlsOtherCA ?? "")
        let started = ContinuousClock.now
        let pipeline = try RunSupport.makePipeline(config)
        let error = await Self.failure(of: pipeline, within: .seconds(40))
        let elapsed = ContinuousClock.now - started
        guard case Pipeline.Failure.consumer(let cause as KafkaError)? = error else {
            Issue.record("expected the TLS failure, got \(String(describing: error))")
            return
        }
        #expect(cause.isSecurityFailure)
        #expect(cause.name == "_SSL")
        #expect("\(cause)".contains("certificate verify failed"), "\(cause)")
        #expect(pipeline.health.snapshot.failure?.contains("SSL handshake failed") == true)
        #expect(elapsed < .seconds(30), "seconds, not a hang (0.1 s on an idle machine)")
        print("wrong CA: stopped after \(elapsed) with \(cause)")
    }

    @Test("with create_topics off the consumer's handshake failure stops the pipeline the same way",
          .timeLimit(.minutes(1)))
    func wrongCAFailsClearlyWithoutAdmin() async throws {
        var config = Self.config(trusting: tlsOtherCA ?? "")
        config.kafka.createTopics = false
        let started = ContinuousClock.now
        let error = try await Self.failure(of: RunSupport.makePipeline(config), within: .seconds(40))
        let elapsed = ContinuousClock.now - started
        guard case Pipeline.Failure.consumer(let cause as KafkaError)? = error else {
            Issue.record("expected the consumer's TLS failure, got \(String(describing: error))")
            return
        }
        #expect(cause.isSecurityFailure)
        #expect("\(cause)".contains("certificate verify failed"))
        #expect(elapsed < .seconds(30), "seconds, not a hang (0.1 s on an idle machine)")
        print("wrong CA, create_topics off: stopped after \(elapsed)")
    }

    @Test("the admin client reports the handshake failure instead of waiting out its timeout", .timeLimit(.minutes(1)))
    func adminReportsTheTLSFailure() throws {
        let admin = try KafkaAdmin(
            configuration: ["bootstrap.servers": tlsBootstrap ?? "", "security.protocol": "ssl",
                            "ssl.ca.location": tlsOtherCA ?? ""],
            logger: RunSupport.logger())
        let started = ContinuousClock.now
        let error = #expect(throws: KafkaError.self) {
            try admin.createTopic(RunSupport.unique("tls-admin"), partitions: 1, timeoutMilliseconds: 20_000)
        }
        // Without the early report this would be _TIMED_OUT after 20 s.
        #expect(error?.name == "_SSL", "\(String(describing: error))")
        #expect(error?.isSecurityFailure == true)
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    /// Runs `pipeline` until it ends or `limit` passes; the error it ended with, nil when it ended
    /// cleanly. A pipeline still running at `limit` (a hang) is stopped and recorded as an issue.
    static func failure(of pipeline: Pipeline, within limit: Duration) async -> (any Error)? {
        let outcome: Result<Void, any Error>? = await withTaskGroup(of: Result<Void, any Error>?.self) { group in
            group.addTask {
                do {
                    try await pipeline.run()
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            pipeline.requestStop()
            group.cancelAll()
            return first
        }
        switch outcome {
        case nil:
            Issue.record("the pipeline was still running after \(limit)")
            return nil
        case .success:
            Issue.record("the pipeline ended without an error")
            return nil
        case .failure(let error):
            return error
        }
    }
}
