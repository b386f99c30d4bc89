import Foundation
import FunnelKafka
import FunnelTestSupport
import Testing
@testable import FunnelDaemon

@Suite("librdkafka settings")
struct RunSettingsTests {
    @Test func passthroughReachesEachClientItApplies() {
        var config = FunnelPulseConfig()
        config.kafka.librdkafka = [
            "security.protocol": "ssl", "session.timeout.ms": "6000", "linger.ms": "20",
        ]
        let consumer = KafkaClientSettings.consumer(config)
        let producer = KafkaClientSettings.producer(config)
        let admin = KafkaClientSettings.admin(config)
        // TLS/SASL settings go everywhere…
        #expect(consumer["security.protocol"] == "ssl")
        #expect(producer["security.protocol"] == "ssl")
        #expect(admin["security.protocol"] == "ssl")
        // …consumer-only ones only to the consumer (librdkafka warns on every producer otherwise).
        #expect(consumer["session.timeout.ms"] == "6000")
        #expect(producer["session.timeout.ms"] == nil)
        #expect(admin["session.timeout.ms"] == nil)
        #expect(producer["linger.ms"] == "20")
        // The delivery guarantee's own keys cannot be overridden.
        #expect(producer["enable.idempotence"] == "true")
        #expect(consumer["enable.partition.eof"] == "true")
        #expect(consumer["group.id"] == config.kafka.groupID)
    }

    @Test("the consumer keeps a deep prefetch queue by default, and the passthrough can change it")
    func consumerPrefetchDepth() {
        var config = FunnelPulseConfig()
        let consumer = KafkaClientSettings.consumer(config)
        // At librdkafka's default (100,000) a backlog was fetched in bursts with idle gaps between.
        #expect(consumer["queued.min.messages"].flatMap(Int.init).map { $0 >= 1_000_000 } == true)
        #expect(KafkaClientSettings.producer(config)["queued.min.messages"] == nil)
        config.kafka.librdkafka["queued.min.messages"] = "50000"
        #expect(KafkaClientSettings.consumer(config)["queued.min.messages"] == "50000")
    }

    static let saslSettings = [
        "security.protocol": "sasl_ssl", "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "funnelpulse",
        "sasl.password": "s3cr3t-sasl-pw", "ssl.ca.location": "/etc/kafka/ca.pem",
        "sasl.oauthbearer.client.secret": "s3cr3t-oidc", "sasl.oauthbearer.config": "principal=fp s3cr3t-ext",
        "ssl.key.password": "s3cr3t-keypw", "ssl.keystore.password": "s3cr3t-store",
        "sasl.jaas.config": "s3cr3t-jaas",
    ]

    @Test("sasl.* and ssl.* settings reach the consumer, the producer and the admin client unchanged")
    func saslSettingsReachEveryClient() {
        var config = FunnelPulseConfig()
        config.kafka.librdkafka = Self.saslSettings
        let clients = [
            "consumer": KafkaClientSettings.consumer(config), "producer": KafkaClientSettings.producer(config),
            "admin": KafkaClientSettings.admin(config),
        ]
        for (name, settings) in clients {
            for (key, value) in Self.saslSettings {
                #expect(settings[key] == value, "\(name): \(key)")
            }
        }
    }

    @Test("SASL passwords, client secrets and key passwords are redacted in the start-up log; the rest is shown")
    func secretsAreRedactedInTheConfigDump() throws {
        var config = FunnelPulseConfig()
        config.kafka.librdkafka = Self.saslSettings
        let metadata = ConfigRedaction.metadata(config)
        guard case .dictionary(let kafka)? = metadata["kafka"], case .dictionary(let librdkafka)? = kafka["librdkafka"]
        else {
            Issue.record("no kafka.librdkafka in the start-up metadata")
            return
        }
        for key in ["sasl.password", "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config", "ssl.key.password",
                    "ssl.keystore.password", "sasl.jaas.config"] {
            #expect(librdkafka[key] == .string("***"), "\(key)")
        }
        for key in ["security.protocol", "sasl.mechanisms", "sasl.username", "ssl.ca.location"] {
            #expect(librdkafka[key] == .string(Self.saslSettings[key] ?? ""), "\(key) is not a secret")
        }
        #expect(!"\(metadata)".contains("s3cr3t"))
    }

    @Test("FUNNELPULSE_LIBRDKAFKA_SASL_PASSWORD reaches the clients and is redacted too")
    func saslPasswordFromTheEnvironment() throws {
        let config = try ConfigLoader.loadConfig(path: "", environment: [
            "FUNNELPULSE_LIBRDKAFKA_SASL_PASSWORD": "s3cr3t-from-env",
            "FUNNELPULSE_LIBRDKAFKA_SASL_USERNAME": "fp",
            "FUNNELPULSE_LIBRDKAFKA_SECURITY_PROTOCOL": "sasl_plaintext",
        ])
        #expect(KafkaClientSettings.producer(config)["sasl.password"] == "s3cr3t-from-env")
        #expect(KafkaClientSettings.consumer(config)["sasl.username"] == "fp")
        #expect(KafkaClientSettings.admin(config)["security.protocol"] == "sasl_plaintext")
        #expect(!"\(ConfigRedaction.metadata(config))".contains("s3cr3t"))
    }

    @Test("a librdkafka error about a secret setting does not echo its value")
    func configurationErrorsDoNotEchoSecrets() {
        // An unknown property whose name marks it as secret (a typo'd password key, say).
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(configuration: ["bootstrap.servers": "127.0.0.1:1", "my.sasl.password.typo": "s3cr3t"],
                                  logger: RunSupport.logger())
        }
        #expect(error?.message.contains("my.sasl.password.typo") == true)
        #expect(error?.message.contains("s3cr3t") == false)
        // Non-secret values are still shown, which is what makes such errors useful.
        let plain = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(configuration: ["bootstrap.servers": "127.0.0.1:1", "linger.ms": "not-a-number"],
                                  logger: RunSupport.logger())
        }
        #expect(plain?.message.contains("not-a-number") == true)
    }

    @Test("the HTTP endpoint binds to loopback unless configured otherwise")
    func httpBindsToLoopbackByDefault() throws {
        #expect(FunnelPulseConfig().http.host == "127.0.0.1")
        #expect(try ConfigLoader.loadConfig(path: "", environment: [:]).http.host == "127.0.0.1")
        // A file that sets only the port keeps the loopback host.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(RunSupport.unique("http") + ".yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "http:\n  port: 0\n".write(toFile: path, atomically: true, encoding: .utf8)
        let config = try ConfigLoader.loadConfig(path: path, environment: [:])
        #expect(config.http.serverConfiguration.host == "127.0.0.1")
        #expect(config.http.serverConfiguration.port == 0)
        // What the socket is actually bound to (getsockname), with the daemon's own configuration.
        let server = HTTPServer(configuration: config.http.serverConfiguration, logger: RunSupport.logger()) { _ in nil }
        let bound = try server.start()
        defer { server.stop() }
        #expect(bound.host == "127.0.0.1")
        #expect(bound.port > 0)
        // Configured otherwise, it follows the configuration (file or FUNNELPULSE_HTTP_HOST).
        let exposed = try ConfigLoader.loadConfig(path: path, environment: ["FUNNELPULSE_HTTP_HOST": "0.0.0.0"])
        #expect(exposed.http.serverConfiguration.host == "0.0.0.0")
    }
}
