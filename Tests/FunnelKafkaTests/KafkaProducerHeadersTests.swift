import Foundation
import Testing

@testable import FunnelKafka

@Suite("Producer with headers to an absent topic", .serialized, .timeLimit(.minutes(1)))
struct KafkaProducerHeadersTests {
    /// librdkafka 2.0.2's `rd_kafka_produceva` frees a `VTYPE_HEADER` list twice when the
    /// partitioner refuses the message (a topic the client knows to be absent) and crashes the
    /// process (fixed upstream in 2.12.0). ``KafkaProducer`` passes an owned `VTYPE_HEADERS` list.
    @Test("sending with headers to a topic known to be absent throws instead of crashing")
    func absentTopicWithHeaders() async throws {
        let cluster = try KafkaMockCluster()
        let topic = KafkaTestSupport.unique("absent")
        cluster.setTopicError(topic, code: KafkaError.Code.unknownTopicOrPartition)
        var configuration = KafkaTestSupport.producerConfig(cluster)
        configuration["topic.metadata.propagation.max.ms"] = "200"
        let producer = try KafkaProducer(configuration: configuration, logger: KafkaTestSupport.logger())
        let headers = [KafkaHeader(name: "schema", value: Array("s.v1".utf8)), KafkaHeader(name: "empty", value: [])]
        var reports: [(UInt64, KafkaError?)] = []
        var refused: KafkaError?
        var token: UInt64 = 0
        // The first sends are queued until metadata says the topic does not exist; after that,
        // sends are refused at once by the partitioner.
        await KafkaTestSupport.waitUntil(seconds: 10) {
            token += 1
            do {
                try [UInt8](repeating: 7, count: 10).withUnsafeBytes {
                    try producer.send(topic: topic, key: nil, value: $0, headers: headers, token: token)
                }
            } catch {
                refused = (error as? KafkaError) ?? KafkaError(code: 0, name: "NOT_A_KAFKA_ERROR", message: "\(error)")
                return true
            }
            producer.poll(timeoutMilliseconds: 50)
            producer.drainDeliveryReports { reports.append(($0, $1)) }
            return false
        }
        #expect(refused?.name == "_UNKNOWN_TOPIC", "\(String(describing: refused))")
        #expect(refused?.topic == topic)
        // Earlier sends failed through their delivery reports, none was delivered.
        try? producer.flush(timeoutMilliseconds: 2000)
        producer.drainDeliveryReports { reports.append(($0, $1)) }
        #expect(!reports.isEmpty && reports.allSatisfy { $0.1 != nil })
        withExtendedLifetime(cluster) {}
    }
}
