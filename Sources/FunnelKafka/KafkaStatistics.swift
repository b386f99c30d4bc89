import Foundation

/// The subset of librdkafka's statistics JSON (`statistics.interval.ms`) the daemon turns into
/// gauges. Parsed once per interval on the polling thread; never on the message path.
public struct KafkaStatistics: Sendable, Equatable {
    public struct Broker: Sendable, Equatable {
        public var name: String
        public var nodeID: Int32
        public var state: String
        /// Average request round-trip time in microseconds over the last interval (0 if none).
        public var rttAverageMicroseconds: Int64
    }

    /// Client instance name (`rdkafka#consumer-1`).
    public var name: String
    public var clientID: String
    /// `producer` or `consumer`.
    public var type: String
    /// Messages / bytes currently in producer queues (waiting for delivery or a report).
    public var messageCount: Int64
    public var messageBytes: Int64
    public var txMessages: Int64
    public var txBytes: Int64
    public var rxMessages: Int64
    public var rxBytes: Int64
    public var brokers: [Broker]
    /// Consumer lag per partition as librdkafka computes it; partitions with unknown lag are absent.
    public var consumerLag: [TopicPartition: Int64]

    /// Parses the JSON librdkafka passes to `stats_cb`. Missing fields read as zero so that a
    /// librdkafka version that drops a field degrades the gauge rather than the client.
    public init(json: UnsafeRawBufferPointer) throws(KafkaError) {
        let data = Data(json)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw KafkaError.invalidArgument("statistics JSON: \(error)")
        }
        guard let root = object as? [String: Any] else {
            throw KafkaError.invalidArgument("statistics JSON is not an object")
        }
        self.name = root["name"] as? String ?? ""
        self.clientID = root["client_id"] as? String ?? ""
        self.type = root["type"] as? String ?? ""
        self.messageCount = Self.int(root["msg_cnt"])
        self.messageBytes = Self.int(root["msg_size"])
        self.txMessages = Self.int(root["txmsgs"])
        self.txBytes = Self.int(root["txmsg_bytes"])
        self.rxMessages = Self.int(root["rxmsgs"])
        self.rxBytes = Self.int(root["rxmsg_bytes"])

        var brokers: [Broker] = []
        for case let broker as [String: Any] in (root["brokers"] as? [String: Any] ?? [:]).values {
            let rtt = broker["rtt"] as? [String: Any] ?? [:]
            brokers.append(
                Broker(
                    name: broker["name"] as? String ?? "",
                    nodeID: Int32(clamping: Self.int(broker["nodeid"])),
                    state: broker["state"] as? String ?? "",
                    rttAverageMicroseconds: Self.int(rtt["avg"])
                )
            )
        }
        self.brokers = brokers.sorted { $0.name < $1.name }

        var lag: [TopicPartition: Int64] = [:]
        for (topicName, topicValue) in root["topics"] as? [String: Any] ?? [:] {
            let partitions = (topicValue as? [String: Any])?["partitions"] as? [String: Any] ?? [:]
            for case let partition as [String: Any] in partitions.values {
                let id = Self.int(partition["partition"])
                let consumerLag = Self.int(partition["consumer_lag"], default: -1)
                // Partition -1 is librdkafka's internal "unassigned" bucket; -1 lag means unknown.
                guard id >= 0, consumerLag >= 0 else { continue }
                lag[TopicPartition(topic: topicName, partition: Int32(clamping: id))] = consumerLag
            }
        }
        self.consumerLag = lag
    }

    private static func int(_ value: Any?, default fallback: Int64 = 0) -> Int64 {
        switch value {
        case let number as NSNumber: return number.int64Value
        case let int as Int: return Int64(int)
        default: return fallback
        }
    }
}
