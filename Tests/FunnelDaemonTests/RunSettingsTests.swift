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
}
