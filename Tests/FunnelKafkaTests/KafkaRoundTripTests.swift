import Foundation
import Testing

@testable import FunnelKafka

@Suite("Produce and consume on the mock cluster", .serialized, .timeLimit(.minutes(1)))
struct KafkaRoundTripTests {
    /// The per-record path the daemon's publisher uses: a topic resolved once and headers
    /// borrowed from the stack (a constant name, a value that changes per message, an empty one).
    @Test("messages sent with a topic handle and borrowed headers arrive with those headers")
    func borrowedHeadersRoundTrip() async throws {
        let (cluster, name, producer) = try KafkaTestSupport.producerOnNewTopic("borrowed", partitions: 2)
        let topic = try producer.topic(name)
        #expect(topic.name == name)
        let count = 50
        for index in 0..<count {
            let sequence = Array(String(index * 1_000_003).utf8)
            try sequence.withUnsafeBytes { sequence in
                try Array("s.v1".utf8).withUnsafeBytes { schema in
                    let headers = [KafkaHeaderView(name: "schema", value: schema),
                                   KafkaHeaderView(name: "seq", value: sequence),
                                   KafkaHeaderView(name: "empty", value: UnsafeRawBufferPointer(start: nil, count: 0))]
                    try headers.withUnsafeBufferPointer { headers in
                        try Array("event-\(index)".utf8).withUnsafeBytes { value in
                            try Array("user-\(index % 7)".utf8).withUnsafeBytes { key in
                                try producer.send(topic: topic, key: key, value: value, headers: headers,
                                                  token: UInt64(index))
                            }
                        }
                    }
                }
            }
        }
        var delivered = 0
        await KafkaTestSupport.waitUntil(seconds: 20) {
            producer.poll(timeoutMilliseconds: 50)
            producer.drainDeliveryReports { _, error in
                #expect(error == nil, "\(String(describing: error))")
                delivered += 1
            }
            return delivered == count
        }
        #expect(delivered == count)

        let (_, consumed) = try await KafkaTestSupport.consumeNewGroup(cluster, topic: name, count: count)
        #expect(consumed.count == count)
        for message in consumed {
            let index = Int(String(decoding: message.value ?? [], as: UTF8.self).dropFirst("event-".count)) ?? -1
            #expect(message.key == "user-\(index % 7)")
            #expect(message.headers == [
                KafkaHeader(name: "schema", value: Array("s.v1".utf8)),
                KafkaHeader(name: "seq", value: Array(String(index * 1_000_003).utf8)),
                KafkaHeader(name: "empty", value: []),
            ])
        }
    }

    @Test("keyed messages with headers round-trip with per-partition order")
    func roundTrip() async throws {
        let (cluster, topic, producer) = try KafkaTestSupport.producerOnNewTopic("roundtrip", partitions: 4)
        let count = 400
        let messages = (0..<count).map { index in
            (
                key: Optional("user-\(index % 13)"),
                value: Optional(Array("event-\(index)".utf8)),
                headers: [
                    KafkaHeader(name: "seq", value: Array(String(index).utf8)),
                    KafkaHeader(name: "empty", value: []),
                ]
            )
        }
        let failures = try await KafkaTestSupport.produceAndWait(producer, topic: topic, messages: messages)
        #expect(failures.isEmpty, "\(failures)")

        var (consumer, consumed) = try await KafkaTestSupport.consumeNewGroup(cluster, topic: topic, count: count)
        // Nothing extra arrives afterwards.
        try consumer.pollBatch(maxMessages: 100, timeoutMilliseconds: 300) {
            consumed.append(ConsumedMessage($0))
        }
        #expect(consumed.count == count)
        #expect(Set(try consumer.assignment()).count == 4)

        // Payloads, keys and headers intact; every index exactly once.
        var seen = Set<Int>()
        for message in consumed {
            let value = String(decoding: message.value ?? [], as: UTF8.self)
            let index = Int(value.dropFirst("event-".count)) ?? -1
            #expect(seen.insert(index).inserted, "duplicate \(index)")
            #expect(message.key == "user-\(index % 13)")
            #expect(message.headers == messages[index].headers)
            #expect(message.topicPartition.topic == topic)
            #expect(message.hasTimestamp)
        }
        #expect(seen == Set(0..<count))

        // Per partition: offsets strictly increasing, and each key's events in production order.
        var lastOffset: [TopicPartition: Int64] = [:]
        var lastIndexPerKey: [String: Int] = [:]
        var partitionOfKey: [String: TopicPartition] = [:]
        for message in consumed {
            #expect(message.offset > lastOffset[message.topicPartition, default: -1])
            lastOffset[message.topicPartition] = message.offset
            let key = message.key ?? ""
            let index = Int(String(decoding: message.value ?? [], as: UTF8.self).dropFirst(6)) ?? -1
            #expect(index > lastIndexPerKey[key, default: -1], "order broken for \(key)")
            lastIndexPerKey[key] = index
            #expect(partitionOfKey[key, default: message.topicPartition] == message.topicPartition)
            partitionOfKey[key] = message.topicPartition
        }
        #expect(Set(consumed.map(\.topicPartition)).count > 1, "keys should spread over partitions")

        // Everything consumed: cached lag reaches zero for every assigned partition.
        var lag: [TopicPartition: Int64] = [:]
        await KafkaTestSupport.waitUntil(seconds: 5) {
            _ = try? consumer.pollBatch(maxMessages: 1, timeoutMilliseconds: 100) { _ in }
            lag = (try? consumer.lag()) ?? [:]
            return lag.count == 4 && lag.values.allSatisfy { $0 == 0 }
        }
        #expect(lag.count == 4 && lag.values.allSatisfy { $0 == 0 }, "\(lag)")
        try consumer.close()
        withExtendedLifetime(cluster) {}
    }

    @Test("a null value arrives as payload == nil, an empty value as an empty buffer")
    func tombstone() async throws {
        let cluster = try KafkaMockCluster()
        let topic = KafkaTestSupport.unique("tombstone")
        try cluster.createTopic(topic, partitions: 1)
        let producer = try KafkaProducer(
            configuration: KafkaTestSupport.producerConfig(cluster),
            logger: KafkaTestSupport.logger()
        )
        let failures = try await KafkaTestSupport.produceAndWait(
            producer,
            topic: topic,
            messages: [
                (key: "gone", value: nil, headers: []),
                (key: nil, value: [], headers: []),
                (key: nil, value: Array("after".utf8), headers: []),
            ]
        )
        #expect(failures.isEmpty)

        var configuration = KafkaTestSupport.consumerConfig(cluster, group: KafkaTestSupport.unique("g"))
        configuration["enable.partition.eof"] = "true"
        let consumer = try KafkaConsumer(configuration: configuration, logger: KafkaTestSupport.logger())
        var endOfPartition: [(TopicPartition, Int64)] = []
        consumer.onPartitionEOF = { endOfPartition.append(($0, $1)) }
        try consumer.subscribe(topics: [topic])
        var consumed: [ConsumedMessage] = []
        try await KafkaTestSupport.waitUntil(seconds: 30) {
            try consumer.pollBatch(maxMessages: 10, timeoutMilliseconds: 100) {
                consumed.append(ConsumedMessage($0))
            }
            return consumed.count >= 3 && !endOfPartition.isEmpty
        }
        #expect(consumed.count == 3)
        #expect(consumed.first?.value == nil)
        #expect(consumed.first?.key == "gone")
        #expect(consumed.dropFirst().first?.key == nil)
        #expect(consumed.dropFirst().first?.value == [])
        #expect(consumed.last?.value == Array("after".utf8))
        #expect(endOfPartition.first?.0 == TopicPartition(topic: topic, partition: 0))
        #expect(endOfPartition.first?.1 == 3)
        try consumer.close()
        withExtendedLifetime(cluster) {}
    }
}
