import Foundation
import Testing

@testable import FunnelKafka

@Suite("Producer faults, statistics and errors", .serialized, .timeLimit(.minutes(1)))
struct KafkaProducerTests {
    /// A one-broker mock cluster, a fresh one-partition topic on it, and a producer whose messages
    /// time out after `messageTimeoutMilliseconds` (the outage tests take that broker down).
    static func oneBroker(topic prefix: String, messageTimeoutMilliseconds: Int) throws
        -> (KafkaMockCluster, String, KafkaProducer)
    {
        let cluster = try KafkaMockCluster(brokers: 1)
        let topic = KafkaTestSupport.unique(prefix)
        try cluster.createTopic(topic, partitions: 1)
        var configuration = KafkaTestSupport.producerConfig(cluster)
        configuration["message.timeout.ms"] = "\(messageTimeoutMilliseconds)"
        let producer = try KafkaProducer(configuration: configuration, logger: KafkaTestSupport.logger())
        return (cluster, topic, producer)
    }

    @Test("messages sent while the broker is down are delivered after it comes back")
    func brokerDown() async throws {
        let (cluster, topic, producer) = try Self.oneBroker(topic: "outage", messageTimeoutMilliseconds: 30_000)
        let errors = Collected<KafkaError>()
        producer.onError = { errors.append($0) }
        // Warm up: leader known, connection established.
        #expect(try await KafkaTestSupport.produceAndWait(
            producer, topic: topic, messages: [(key: nil, value: [1], headers: [])]).isEmpty)

        cluster.setBrokerDown(1)
        let count = 20
        for index in 0..<count {
            try Array("x\(index)".utf8).withUnsafeBytes {
                try producer.send(topic: topic, key: nil, value: $0, token: UInt64(100 + index))
            }
        }
        var reports: [(UInt64, KafkaError?)] = []
        await KafkaTestSupport.waitUntil(seconds: 1.5) {
            producer.poll(timeoutMilliseconds: 100)
            producer.drainDeliveryReports { reports.append(($0, $1)) }
            return false
        }
        #expect(reports.allSatisfy { $0.1 != nil }, "delivered while the broker was down")
        #expect(producer.outstanding > 0)

        cluster.setBrokerUp(1)
        try producer.flush(timeoutMilliseconds: 20_000)
        producer.drainDeliveryReports { reports.append(($0, $1)) }
        let succeeded = Set(reports.filter { $0.1 == nil }.map(\.0))
        #expect(succeeded == Set((0..<count).map { UInt64(100 + $0) }))
        #expect(producer.outstanding == 0)
        // The outage itself was reported, and is classified as retriable.
        let seen = errors.snapshot
        #expect(seen.allSatisfy { !$0.isFatal })
        #expect(seen.contains { $0.isRetriable }, "\(seen)")
        withExtendedLifetime(cluster) {}
    }

    /// The daemon keeps no copy of a record in flight: it re-sends a failed one from its report.
    @Test("a failed delivery report hands back the message's key and value; delivered ones carry none")
    func failedReportsReturnTheMessage() async throws {
        let (cluster, topic, producer) = try Self.oneBroker(topic: "returned", messageTimeoutMilliseconds: 500)
        #expect(try await KafkaTestSupport.produceAndWait(
            producer, topic: topic, messages: [(key: nil, value: [1], headers: [])]).isEmpty)
        var reports: [KafkaDeliveryReport] = []
        producer.drainDeliveries { reports.append($0) }

        cluster.setBrokerDown(1)
        // Keyed, key-less, and an empty key (which must stay empty, not become "no key").
        let sent: [(token: UInt64, key: [UInt8]?, value: [UInt8])] = [
            (200, Array("user-7".utf8), Array(#"{"score":0.25}"#.utf8)),
            (201, nil, Array("dead letter".utf8)),
            (202, [], Array("empty key".utf8)),
        ]
        for message in sent {
            try message.value.withUnsafeBytes { value in
                if let key = message.key {
                    try key.withUnsafeBytes { try producer.send(topic: topic, key: $0, value: value, token: message.token) }
                } else {
                    try producer.send(topic: topic, key: nil, value: value, token: message.token)
                }
            }
        }
        reports = []
        _ = await KafkaTestSupport.waitUntil(seconds: 10) {
            producer.poll(timeoutMilliseconds: 100)
            producer.drainDeliveries { reports.append($0) }
            return reports.count == sent.count
        }
        cluster.setBrokerUp(1)
        #expect(reports.count == sent.count)
        for message in sent {
            let report = reports.first { $0.token == message.token }
            #expect(report?.error != nil, "token \(message.token) was not reported failed")
            #expect(report?.failedKey == message.key, "token \(message.token)")
            #expect(report?.failedValue == message.value, "token \(message.token)")
        }

        try Array("after".utf8).withUnsafeBytes { try producer.send(topic: topic, key: nil, value: $0, token: 300) }
        try producer.flush(timeoutMilliseconds: 20_000)
        var delivered: [KafkaDeliveryReport] = []
        producer.drainDeliveries { delivered.append($0) }
        #expect(delivered.map(\.token) == [300])
        #expect(delivered.allSatisfy { $0.error == nil && $0.failedKey == nil && $0.failedValue == nil })
        withExtendedLifetime(cluster) {}
    }

    @Test("transient produce errors injected on the broker are retried by the idempotent producer")
    func injectedProduceErrors() async throws {
        let cluster = try KafkaMockCluster()
        let topic = KafkaTestSupport.unique("inject")
        try cluster.createTopic(topic, partitions: 1)
        let producer = try KafkaProducer(
            configuration: KafkaTestSupport.producerConfig(cluster),
            logger: KafkaTestSupport.logger()
        )
        cluster.pushRequestErrors(
            apiKey: 0,  // Produce
            errors: [KafkaError.Code.notLeaderForPartition, 19 /* NOT_ENOUGH_REPLICAS */]
        )
        let failures = try await KafkaTestSupport.produceAndWait(
            producer,
            topic: topic,
            messages: (0..<10).map { (key: nil, value: [UInt8($0)], headers: []) }
        )
        #expect(failures.isEmpty, "\(failures)")
        withExtendedLifetime(cluster) {}
    }

    @Test("statistics are parsed for producer and consumer")
    func statistics() async throws {
        let cluster = try KafkaMockCluster()
        let topic = KafkaTestSupport.unique("stats")
        try cluster.createTopic(topic, partitions: 2)
        var configuration = KafkaTestSupport.producerConfig(cluster)
        configuration["statistics.interval.ms"] = "100"
        let producer = try KafkaProducer(configuration: configuration, logger: KafkaTestSupport.logger())
        let producerStats = Collected<KafkaStatistics>()
        producer.onStatistics = { producerStats.append($0) }
        let count = 50
        #expect(try await KafkaTestSupport.produceAndWait(
            producer, topic: topic,
            messages: (0..<count).map { (key: "k\($0)", value: [UInt8($0)], headers: []) }).isEmpty)
        let producerSaw = await KafkaTestSupport.waitUntil(seconds: 5) {
            producer.poll(timeoutMilliseconds: 100)
            return producerStats.snapshot.contains { $0.txMessages >= Int64(count) }
        }
        #expect(producerSaw)
        if let last = producerStats.snapshot.last {
            #expect(last.type == "producer")
            #expect(!last.name.isEmpty)
            #expect(last.txBytes > 0)
            #expect(!last.brokers.isEmpty)
            #expect(last.brokers.allSatisfy { $0.rttAverageMicroseconds >= 0 })
        }

        var consumerConfiguration = KafkaTestSupport.consumerConfig(cluster, group: KafkaTestSupport.unique("g"))
        consumerConfiguration["statistics.interval.ms"] = "200"
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: KafkaTestSupport.logger())
        var consumerStats: [KafkaStatistics] = []
        consumer.onStatistics = { consumerStats.append($0) }
        try consumer.subscribe(topics: [topic])
        var consumed = 0
        let consumerSaw = try await KafkaTestSupport.waitUntil(seconds: 30) {
            consumed += try consumer.pollBatch(maxMessages: 100, timeoutMilliseconds: 100) { message in
                try consumer.storeOffset(topic: message.topic, partition: message.partition, offset: message.offset + 1)
            }
            // librdkafka's consumer_lag is measured from the committed offset.
            try consumer.commitSync()
            guard consumed == count, let last = consumerStats.last else { return false }
            return last.rxMessages >= Int64(count) && last.consumerLag.count == 2
                && last.consumerLag.values.allSatisfy { $0 == 0 }
        }
        #expect(consumerSaw, "consumed \(consumed), stats \(String(describing: consumerStats.last))")
        if let last = consumerStats.last {
            #expect(last.type == "consumer")
            #expect(last.consumerLag.keys.allSatisfy { $0.topic == topic })
        }
        try consumer.close()
        withExtendedLifetime(cluster) {}
    }

    @Test("KafkaError carries code, name and classification")
    func errorClassification() throws {
        let queueFull = KafkaError(librdkafkaCode: KafkaError.Code.queueFull, topic: "t", partition: 3, offset: 7)
        #expect(queueFull.code == KafkaError.Code.queueFull)
        #expect(queueFull.name == "_QUEUE_FULL")
        #expect(queueFull.isRetriable)
        #expect(!queueFull.isFatal)
        #expect(queueFull.description.contains("topic: t"))
        #expect(queueFull.description.contains("partition: 3"))

        let exists = KafkaError(librdkafkaCode: KafkaError.Code.topicAlreadyExists)
        #expect(exists.name == "TOPIC_ALREADY_EXISTS")
        #expect(!exists.isRetriable)
        #expect(!exists.isFatal)

        let fatal = KafkaError(librdkafkaCode: KafkaError.Code.fatal)
        #expect(fatal.isFatal)
        #expect(fatal.name == "_FATAL")
        #expect(!fatal.message.isEmpty)

        // From a real librdkafka failure: a message above message.max.bytes is refused at once.
        let cluster = try KafkaMockCluster()
        var configuration = KafkaTestSupport.producerConfig(cluster)
        configuration["message.max.bytes"] = "1000"
        let producer = try KafkaProducer(configuration: configuration, logger: KafkaTestSupport.logger())
        let error = #expect(throws: KafkaError.self) {
            try [UInt8](repeating: 1, count: 5000).withUnsafeBytes {
                try producer.send(topic: KafkaTestSupport.unique("big"), key: nil, value: $0, token: 1)
            }
        }
        #expect(error?.name == "MSG_SIZE_TOO_LARGE")
        #expect(error?.isFatal == false)
        #expect(error?.isRetriable == false)
        #expect(error?.topic?.hasPrefix("big") == true)
        #expect(producer.fatalState() == nil)
    }

    @Test("CreateTopics against the mock cluster fails cleanly within its timeout")
    func adminOnMock() throws {
        let cluster = try KafkaMockCluster()
        let admin = try KafkaAdmin(
            configuration: ["bootstrap.servers": cluster.bootstrapServers],
            logger: KafkaTestSupport.logger()
        )
        let start = ContinuousClock.now
        let outcome = Result { () throws(KafkaError) in
            try admin.createTopic(KafkaTestSupport.unique("admin"), partitions: 3, timeoutMilliseconds: 3000)
        }
        if case .failure(let error) = outcome {
            #expect(error.code != 0)
        }
        #expect(ContinuousClock.now - start < .seconds(10))
    }
}
