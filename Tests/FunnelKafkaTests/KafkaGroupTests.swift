import Foundation
import Testing

@testable import FunnelKafka

@Suite("Consumer groups, offsets and rebalancing", .serialized, .timeLimit(.minutes(1)))
struct KafkaGroupTests {
    @Test("a new member resumes exactly after the last stored and committed offset")
    func resumeAfterCommit() async throws {
        let cluster = try KafkaMockCluster()
        let topic = KafkaTestSupport.unique("resume")
        try cluster.createTopic(topic, partitions: 2)
        let producer = try KafkaProducer(
            configuration: KafkaTestSupport.producerConfig(cluster),
            logger: KafkaTestSupport.logger()
        )
        let total = 40
        let failures = try await KafkaTestSupport.produceAndWait(
            producer,
            topic: topic,
            messages: (0..<total).map { (key: "k\($0 % 5)", value: Array("m\($0)".utf8), headers: []) }
        )
        #expect(failures.isEmpty)

        let group = KafkaTestSupport.unique("g")
        var configuration = KafkaTestSupport.consumerConfig(cluster, group: group)
        // The topic exists before anyone subscribes, so the 1 s metadata refresh of the other
        // tests buys nothing here and costs a lot: the mock cluster holds a JoinGroup into an
        // existing group for 5 s, a refresh inside that wait makes librdkafka 2.0.2 see the
        // subscription as changed and join again, and the second member was assigned after 5,
        // 10, 15, 30 s or (1 run in 3) not within the 30 s below. At the default interval it
        // was assigned after 5.0 s in 5 runs of 5.
        configuration["topic.metadata.refresh.interval.ms"] = "300000"
        let first = try KafkaConsumer(configuration: configuration, logger: KafkaTestSupport.logger())
        try first.subscribe(topics: [topic])
        let processedByFirst = 15
        var firstBatch: [ConsumedMessage] = []
        try await KafkaTestSupport.waitUntil(seconds: 30) {
            try first.pollBatch(maxMessages: processedByFirst - firstBatch.count, timeoutMilliseconds: 100) {
                message in
                firstBatch.append(ConsumedMessage(message))
                try first.storeOffset(topic: message.topic, partition: message.partition, offset: message.offset + 1)
            }
            return firstBatch.count == processedByFirst
        }
        #expect(firstBatch.count == processedByFirst)
        try first.commitSync()
        var expectedCommitted: [TopicPartition: Int64?] = [:]
        for message in firstBatch { expectedCommitted[message.topicPartition] = message.offset + 1 }
        let committed = try first.committed(Array(expectedCommitted.keys), timeoutMilliseconds: 5000)
        #expect(committed == expectedCommitted)
        try first.close()

        let second = try KafkaConsumer(configuration: configuration, logger: KafkaTestSupport.logger())
        try second.subscribe(topics: [topic])
        var secondBatch: [ConsumedMessage] = []
        try await KafkaTestSupport.waitUntil(seconds: 30) {
            try second.pollBatch(maxMessages: 100, timeoutMilliseconds: 100) {
                secondBatch.append(ConsumedMessage($0))
            }
            return firstBatch.count + secondBatch.count >= total
        }
        try second.pollBatch(maxMessages: 100, timeoutMilliseconds: 300) {
            secondBatch.append(ConsumedMessage($0))
        }
        let firstValues = Set(firstBatch.compactMap(\.value))
        let secondValues = Set(secondBatch.compactMap(\.value))
        #expect(secondBatch.count == total - processedByFirst, "nothing re-read, nothing skipped")
        #expect(firstValues.isDisjoint(with: secondValues))
        #expect(firstValues.union(secondValues) == Set((0..<total).map { Array("m\($0)".utf8) }))
        // Each partition resumes at exactly the committed offset.
        for (partition, next) in expectedCommitted {
            let firstOffset = secondBatch.filter { $0.topicPartition == partition }.map(\.offset).min()
            #expect(firstOffset == nil || firstOffset == next)
        }
        try second.close()
        withExtendedLifetime(cluster) {}
    }

    @Test("revoke hook runs while partitions are still assigned: on rebalance and on close")
    func revokeBeforeUnassign() async throws {
        let cluster = try KafkaMockCluster()
        let topic = KafkaTestSupport.unique("revoke")
        try cluster.createTopic(topic, partitions: 4)
        let configuration = KafkaTestSupport.consumerConfig(cluster, group: KafkaTestSupport.unique("g"))
        let first = try KafkaConsumer(configuration: configuration, logger: KafkaTestSupport.logger())
        var events: [String] = []
        var assignmentDuringRevoke: [[TopicPartition]] = []
        var commitErrors: [String] = []
        first.onPartitionsAssigned = { partitions in events.append("assign \(partitions.count)") }
        first.onPartitionsRevoked = { [weak first] partitions in
            events.append("revoke \(partitions.count)")
            guard let first else { return }
            assignmentDuringRevoke.append((try? first.assignment()) ?? [])
            // The daemon commits here; it must work inside the hook.
            do { try first.commitSync() } catch { commitErrors.append("\(error)") }
        }
        try first.subscribe(topics: [topic])
        let assignedAlone = try await KafkaTestSupport.waitUntil(seconds: 20) {
            try first.pollBatch(maxMessages: 10, timeoutMilliseconds: 100) { _ in }
            return try first.assignment().count == 4
        }
        #expect(assignedAlone)

        let second = try KafkaConsumer(configuration: configuration, logger: KafkaTestSupport.logger())
        var secondAssigned: [TopicPartition] = []
        second.onPartitionsAssigned = { secondAssigned = $0 }
        try second.subscribe(topics: [topic])
        let split = try await KafkaTestSupport.waitUntil(seconds: 30) {
            try first.pollBatch(maxMessages: 10, timeoutMilliseconds: 50) { _ in }
            try second.pollBatch(maxMessages: 10, timeoutMilliseconds: 50) { _ in }
            return try first.assignment().count == 2 && second.assignment().count == 2
        }
        #expect(split)
        #expect(secondAssigned.count == 2)
        #expect(events.prefix(3) == ["assign 4", "revoke 4", "assign 2"])
        #expect(assignmentDuringRevoke.first?.count == 4, "revoke ran after unassign")

        try first.close()
        #expect(events.last == "revoke 2")
        #expect(assignmentDuringRevoke.last?.count == 2)
        #expect(commitErrors.isEmpty, "\(commitErrors)")
        try second.close()
        withExtendedLifetime(cluster) {}
    }

    @Test("consumer configuration errors are KafkaErrors")
    func consumerConfigurationErrors() throws {
        #expect(throws: KafkaError.self) {
            _ = try KafkaConsumer(configuration: ["bootstrap.servers": "127.0.0.1:1"], logger: KafkaTestSupport.logger())
        }
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaConsumer(
                configuration: ["group.id": "g", "no.such.property": "1"],
                logger: KafkaTestSupport.logger()
            )
        }
        #expect(error?.code == KafkaError.Code.invalidArgument)
        #expect(error?.message.contains("no.such.property") == true)
    }
}
