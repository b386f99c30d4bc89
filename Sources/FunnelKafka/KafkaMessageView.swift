import CRdKafka

/// A message header as sent by ``KafkaProducer``.
public struct KafkaHeader: Hashable, Sendable {
    public var name: String
    public var value: [UInt8]

    public init(name: String, value: [UInt8]) {
        self.name = name
        self.value = value
    }
}

/// A header for the per-record `KafkaProducer.send(topic: KafkaTopic, …)`: a constant name and a
/// borrowed value, valid for the duration of the send (librdkafka copies both).
public struct KafkaHeaderView {
    public var name: StaticString
    public var value: UnsafeRawBufferPointer

    public init(name: StaticString, value: UnsafeRawBufferPointer) {
        self.name = name
        self.value = value
    }
}

/// A producer's handle on one topic, from ``KafkaProducer/topic(_:)``; valid while the producer lives.
public struct KafkaTopic: @unchecked Sendable {
    let handle: OpaquePointer
    public let name: String
}

/// A borrowed view of one consumed message, valid only inside the `body` closure of
/// ``KafkaConsumer/pollBatch(maxMessages:timeoutMilliseconds:_:)``.
///
/// The buffers point into librdkafka's fetch buffer, which is released right after `body`
/// returns: copy out whatever must outlive the call. Handing out views instead of copies keeps the
/// consume path free of per-message allocations.
public struct KafkaMessageView {
    /// `nil` for a null value (a tombstone); an empty non-nil buffer is never produced for it.
    public let payload: UnsafeRawBufferPointer?
    /// `nil` when the message has no key.
    public let key: UnsafeRawBufferPointer?
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    /// Producer create time or broker log-append time; `nil` when the broker sent none.
    public let timestampMilliseconds: Int64?

    /// The C message; only dereferenced while `body` runs.
    let message: UnsafeMutablePointer<rd_kafka_message_t>

    init(message: UnsafeMutablePointer<rd_kafka_message_t>, topic: String) {
        let raw = message.pointee
        self.message = message
        self.topic = topic
        self.partition = raw.partition
        self.offset = raw.offset
        self.payload = raw.payload.map { UnsafeRawBufferPointer(start: $0, count: raw.len) }
        self.key = raw.key.map { UnsafeRawBufferPointer(start: $0, count: raw.key_len) }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        self.timestampMilliseconds =
            timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || timestamp < 0 ? nil : timestamp
    }

    /// The partition/topic pair, for offset bookkeeping.
    public var topicPartition: TopicPartition {
        TopicPartition(topic: topic, partition: partition)
    }

    /// Calls `body` for each header in wire order without copying. A header with a null value
    /// is passed as `nil`.
    public func forEachHeader(_ body: (String, UnsafeRawBufferPointer?) throws -> Void) rethrows {
        var headers: OpaquePointer?
        guard rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR,
            let headers
        else { return }
        var index = 0
        while true {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_all(headers, index, &name, &value, &size)
                == RD_KAFKA_RESP_ERR_NO_ERROR
            else { return }
            index += 1
            guard let name else { continue }
            try body(String(cString: name), value.map { UnsafeRawBufferPointer(start: $0, count: size) })
        }
    }

    /// The last header called `name` (Kafka allows repeats), or `nil`.
    public func header(named name: String) -> UnsafeRawBufferPointer? {
        var headers: OpaquePointer?
        guard rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR,
            let headers
        else { return nil }
        var value: UnsafeRawPointer?
        var size = 0
        guard rd_kafka_header_get_last(headers, name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR,
            let value
        else { return nil }
        return UnsafeRawBufferPointer(start: value, count: size)
    }

    /// All headers, copied. Allocates: for tests, dead-lettering and diagnostics.
    public var headers: [KafkaHeader] {
        var result: [KafkaHeader] = []
        forEachHeader { name, value in
            result.append(KafkaHeader(name: name, value: value.map { Array($0) } ?? []))
        }
        return result
    }
}
