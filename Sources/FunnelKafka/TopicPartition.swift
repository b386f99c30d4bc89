import CRdKafka

/// One partition of one topic: the unit of assignment, pausing, offsets and lag.
public struct TopicPartition: Hashable, Sendable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// Logical offsets a consumer can be started from (``KafkaConsumer/startOffset``).
public enum KafkaOffset {
    /// The oldest message the broker still holds.
    public static let beginning = Int64(RD_KAFKA_OFFSET_BEGINNING)
}

// MARK: - rd_kafka_topic_partition_list_t bridging (internal)

/// Scoped construction and reading of `rd_kafka_topic_partition_list_t`, so every list built
/// here is destroyed on the same path, including when the body throws.
enum TopicPartitionListC {
    typealias ListPointer = UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    /// Builds a list (offsets optional, `RD_KAFKA_OFFSET_INVALID` when absent) valid inside `body`.
    static func with<T>(
        _ partitions: [(TopicPartition, Int64?)],
        _ body: (ListPointer) throws(KafkaError) -> T
    ) throws(KafkaError) -> T {
        guard let list = rd_kafka_topic_partition_list_new(Int32(clamping: max(partitions.count, 1)))
        else { throw KafkaError.invalidArgument("rd_kafka_topic_partition_list_new failed") }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (topicPartition, offset) in partitions {
            let element = rd_kafka_topic_partition_list_add(
                list,
                topicPartition.topic,
                topicPartition.partition
            )
            element?.pointee.offset = offset ?? Int64(RD_KAFKA_OFFSET_INVALID)
        }
        return try body(list)
    }

    static func with<T>(
        _ partitions: [TopicPartition],
        _ body: (ListPointer) throws(KafkaError) -> T
    ) throws(KafkaError) -> T {
        try with(partitions.map { ($0, nil) }, body)
    }

    /// Calls `body` for every element: its partition, offset and per-partition error code.
    static func forEach(
        _ list: ListPointer,
        _ body: (TopicPartition, Int64, rd_kafka_resp_err_t) -> Void
    ) {
        let count = Int(list.pointee.cnt)
        guard count > 0, let elements = list.pointee.elems else { return }
        for index in 0..<count {
            let element = elements[index]
            guard let name = element.topic else { continue }
            body(
                TopicPartition(topic: String(cString: name), partition: element.partition),
                element.offset,
                element.err
            )
        }
    }

    static func partitions(_ list: ListPointer) -> [TopicPartition] {
        var result: [TopicPartition] = []
        result.reserveCapacity(Int(list.pointee.cnt))
        forEach(list) { partition, _, _ in result.append(partition) }
        return result
    }

    /// Offsets of the list; negative (logical) offsets are reported as `nil`.
    static func offsets(_ list: ListPointer) -> [TopicPartition: Int64?] {
        var result: [TopicPartition: Int64?] = [:]
        forEach(list) { partition, offset, _ in result[partition] = offset >= 0 ? offset : nil }
        return result
    }

    /// The first per-partition error, with its context.
    static func firstError(_ list: ListPointer) -> KafkaError? {
        var first: KafkaError?
        forEach(list) { partition, offset, err in
            guard first == nil, err != RD_KAFKA_RESP_ERR_NO_ERROR else { return }
            first = KafkaError(
                err,
                topic: partition.topic,
                partition: partition.partition,
                offset: offset
            )
        }
        return first
    }
}
