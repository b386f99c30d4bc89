import CRdKafka
import Logging

/// Reads a whole topic once, from the beginning of every partition to the end it had when the
/// read started: the newest value per key of a compacted topic (a table, in Kafka Streams terms).
///
/// A short-lived consumer with a manual assignment that never joins its group nor commits, for the
/// partition-state changelog read when a partition is assigned. Blocks the calling thread.
public enum KafkaTopicReader {
    /// One record as read: its key, its value (`nil`: a tombstone), partition and offset.
    public struct Record: Sendable {
        public var key: [UInt8]
        public var value: [UInt8]?
        public var partition: Int32
        public var offset: Int64
    }

    /// Every record of `topic` up to the partitions' ends at the start of the read, in offset
    /// order per partition. A topic that does not exist reads as empty.
    /// - Parameter configuration: librdkafka properties (bootstrap, security); group and commit
    ///   settings are overridden.
    /// - Throws: when the metadata, watermarks or records cannot be read within the timeout.
    public static func readAll(
        topic: String,
        configuration: [String: String],
        timeoutMilliseconds: Int32,
        logger: Logger
    ) throws(KafkaError) -> [Record] {
        var settings = configuration
        for key in ["group.id", "group.instance.id", "partition.assignment.strategy", "statistics.interval.ms"] {
            settings[key] = nil
        }
        // librdkafka's assign needs a group id; the reader never joins (no subscribe) or commits.
        settings["group.id"] = "funnelpulse-reader-\(UInt64.random(in: 1...UInt64.max))"
        settings["enable.auto.commit"] = "false"
        settings["enable.auto.offset.store"] = "false"
        settings["enable.partition.eof"] = "false"
        settings["auto.offset.reset"] = "earliest"
        let conf = try KafkaConfigurationC.make(settings)
        let handle = try KafkaConfigurationC.makeHandle(type: RD_KAFKA_CONSUMER, conf: conf)
        defer {
            rd_kafka_consumer_close(handle)
            rd_kafka_destroy(handle)
        }
        rd_kafka_poll_set_consumer(handle)
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(Int(timeoutMilliseconds))

        let partitions = try partitionCount(handle, topic: topic, timeoutMilliseconds: timeoutMilliseconds)
        guard partitions > 0 else { return [] }
        var ends: [Int32: Int64] = [:]
        var starts: [(TopicPartition, Int64?)] = []
        for partition in 0..<partitions {
            var low: Int64 = 0
            var high: Int64 = 0
            let err = rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high, timeoutMilliseconds)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(err, message: "watermarks of \(topic)[\(partition)]: \(KafkaError.text(of: err))")
            }
            guard high > low else { continue }
            ends[partition] = high
            starts.append((TopicPartition(topic: topic, partition: partition), low))
        }
        guard !starts.isEmpty else { return [] }
        try TopicPartitionListC.with(starts) { list throws(KafkaError) in
            let err = rd_kafka_assign(handle, list)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(err, message: "assign \(topic): \(KafkaError.text(of: err))")
            }
        }
        var records: [Record] = []
        while !ends.isEmpty {
            let left = deadline - clock.now
            guard left > .zero else {
                throw KafkaError(
                    RD_KAFKA_RESP_ERR__TIMED_OUT,
                    message: "reading \(topic) timed out with \(ends.count) partition(s) not read to the end")
            }
            let wait = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
            guard let message = rd_kafka_consumer_poll(handle, min(wait, 100)) else { continue }
            defer { rd_kafka_message_destroy(message) }
            let raw = message.pointee
            guard raw.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                let text = rd_kafka_message_errstr(message).map { String(cString: $0) } ?? KafkaError.text(of: raw.err)
                logger.warning("error while reading a topic", metadata: ["topic": "\(topic)", "error": "\(text)"])
                continue
            }
            let key = raw.key.map { [UInt8](UnsafeRawBufferPointer(start: $0, count: raw.key_len)) } ?? []
            let value = raw.payload.map { [UInt8](UnsafeRawBufferPointer(start: $0, count: raw.len)) }
            records.append(Record(key: key, value: value, partition: raw.partition, offset: raw.offset))
            if let end = ends[raw.partition], raw.offset + 1 >= end { ends[raw.partition] = nil }
        }
        return records
    }

    /// Partitions of `topic` (0 when the broker does not know it).
    private static func partitionCount(_ handle: OpaquePointer, topic: String,
                                       timeoutMilliseconds: Int32) throws(KafkaError) -> Int32 {
        guard let topicHandle = rd_kafka_topic_new(handle, topic, nil) else {
            throw KafkaError.invalidArgument("rd_kafka_topic_new \(topic) failed")
        }
        defer { rd_kafka_topic_destroy(topicHandle) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 0, topicHandle, &metadata, timeoutMilliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw KafkaError(err, message: "metadata of \(topic): \(KafkaError.text(of: err))")
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt > 0, let topics = metadata.pointee.topics else { return 0 }
        let entry = topics[0]
        if entry.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART { return 0 }
        guard entry.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(entry.err, message: "metadata of \(topic): \(KafkaError.text(of: entry.err))")
        }
        return entry.partition_cnt
    }
}
