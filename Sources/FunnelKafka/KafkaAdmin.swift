import CRdKafka
import Logging

/// Topic administration through the AdminClient API.
///
/// The mock cluster does not implement CreateTopics (librdkafka answers with an error or a
/// timeout); use ``KafkaMockCluster/createTopic(_:partitions:)`` there.
public final class KafkaAdmin: @unchecked Sendable {
    public struct NewTopic: Sendable, Hashable {
        public var name: String
        public var partitions: Int32
        /// -1 lets the broker use its default.
        public var replicationFactor: Int32
        /// Topic configuration, e.g. `cleanup.policy=compact`.
        public var configs: [String: String]

        public init(name: String, partitions: Int32, replicationFactor: Int32 = -1, configs: [String: String] = [:]) {
            self.name = name
            self.partitions = partitions
            self.replicationFactor = replicationFactor
            self.configs = configs
        }
    }

    private let handle: OpaquePointer
    private var logDrain: KafkaLogDrain?

    /// - Parameter configuration: at least `bootstrap.servers`.
    public init(configuration: [String: String], logger: Logger) throws(KafkaError) {
        var settings = configuration
        settings["log.queue"] = "true"
        let conf = try KafkaConfigurationC.make(settings)
        handle = try KafkaConfigurationC.makeHandle(type: RD_KAFKA_PRODUCER, conf: conf)
        logDrain = KafkaLogDrain(handle: handle, logger: logger)
    }

    deinit {
        logDrain?.drain()
        logDrain = nil
        rd_kafka_destroy(handle)
    }

    /// Creates the topics and waits for the broker's answer. A topic that already exists counts as
    /// created, so startup code can call this unconditionally. Blocking.
    /// - Throws: the first per-topic failure, a TLS/SASL failure of the client as soon as librdkafka
    ///   reports one (``KafkaError/isSecurityFailure``: waiting cannot cure it), or `_TIMED_OUT`
    ///   when no answer came in time.
    public func createTopics(_ topics: [NewTopic], timeoutMilliseconds: Int32) throws(KafkaError) {
        guard !topics.isEmpty else { return }
        defer { logDrain?.drain() }
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for topic in topics {
            var errorText = [CChar](repeating: 0, count: 512)
            guard let newTopic = rd_kafka_NewTopic_new(
                topic.name, topic.partitions, topic.replicationFactor, &errorText, errorText.count
            ) else {
                throw KafkaError.invalidArgument(KafkaError.string(fromBuffer: errorText)).with(topic: topic.name)
            }
            newTopics.append(newTopic)
            for (key, value) in topic.configs.sorted(by: { $0.key < $1.key }) {
                let err = rd_kafka_NewTopic_set_config(newTopic, key, value)
                guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    throw KafkaError(err, message: "topic config \(key)=\(value): \(KafkaError.text(of: err))")
                        .with(topic: topic.name)
                }
            }
        }
        guard let queue = rd_kafka_queue_new(handle) else {
            throw KafkaError.invalidArgument("rd_kafka_queue_new failed")
        }
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        var errorText = [CChar](repeating: 0, count: 512)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeoutMilliseconds, &errorText, errorText.count)
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMilliseconds, &errorText, errorText.count)

        newTopics.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_CreateTopics(handle, buffer.baseAddress, buffer.count, options, queue)
        }
        // A little slack over the request timeout so librdkafka's own timeout answers first.
        guard let event = try waitForAnswer(on: queue, timeoutMilliseconds: timeoutMilliseconds &+ 1000) else {
            throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, message: "CreateTopics: no answer")
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(err, message: rd_kafka_event_error_string(event).map { String(cString: $0) })
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw KafkaError.invalidArgument("CreateTopics: unexpected event type")
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
        for index in 0..<count {
            guard let topicResult = results[index] else { continue }
            let topicErr = rd_kafka_topic_result_error(topicResult)
            guard topicErr != RD_KAFKA_RESP_ERR_NO_ERROR,
                topicErr != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS
            else { continue }
            throw KafkaError(
                topicErr,
                message: rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) },
                topic: rd_kafka_topic_result_name(topicResult).map { String(cString: $0) }
            )
        }
    }

    /// Polls `queue` in 100 ms slices; in between, drains the client's own error events (this
    /// handle has no error callback, so they wait on its main queue) and throws the first TLS or
    /// SASL failure among them.
    private func waitForAnswer(on queue: OpaquePointer, timeoutMilliseconds: Int32) throws(KafkaError) -> OpaquePointer? {
        let mainQueue = rd_kafka_queue_get_main(handle)
        defer { if let mainQueue { rd_kafka_queue_destroy(mainQueue) } }
        var remaining = Int(timeoutMilliseconds)
        while true {
            let slice = Int32(min(100, max(0, remaining)))
            if let event = rd_kafka_queue_poll(queue, slice) { return event }
            remaining -= Int(slice)
            while let mainQueue, let other = rd_kafka_queue_poll(mainQueue, 0) {
                defer { rd_kafka_event_destroy(other) }
                guard rd_kafka_event_type(other) == RD_KAFKA_EVENT_ERROR else { continue }
                let error = KafkaError(rd_kafka_event_error(other),
                                       message: rd_kafka_event_error_string(other).map { String(cString: $0) })
                if error.isSecurityFailure { throw error }
            }
            if remaining <= 0 { return nil }
        }
    }

    public func createTopic(
        _ name: String,
        partitions: Int32,
        replicationFactor: Int32 = -1,
        timeoutMilliseconds: Int32 = 10_000
    ) throws(KafkaError) {
        try createTopics(
            [NewTopic(name: name, partitions: partitions, replicationFactor: replicationFactor)],
            timeoutMilliseconds: timeoutMilliseconds
        )
    }
}
