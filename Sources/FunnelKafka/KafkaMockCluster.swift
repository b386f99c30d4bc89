import CRdKafka

/// librdkafka's in-process mock Kafka cluster, for tests and the embedded demo mode.
///
/// The brokers run on librdkafka threads inside this process and listen on random loopback
/// ports; any client (ours, or `kcat`) reaches them through ``bootstrapServers``. The cluster lives
/// on its own dedicated handle so its lifetime does not depend on any producer or consumer.
/// Limits (librdkafka 2.0.2): no CreateTopics admin request (use ``createTopic(_:partitions:)``),
/// retention fixed at ~5 MiB per partition, nothing persists. The C API is marked experimental.
///
/// Thread-safe: the mock API posts commands to the cluster's own thread.
public final class KafkaMockCluster: @unchecked Sendable {
    private let handle: OpaquePointer
    private let cluster: OpaquePointer
    /// Comma-separated `host:port` list for `bootstrap.servers`.
    public let bootstrapServers: String

    public init(brokers: Int = 1) throws(KafkaError) {
        guard brokers >= 1 else { throw KafkaError.invalidArgument("mock cluster needs a broker") }
        // Only warnings and errors from the mock brokers; it has nobody polling its logs.
        let conf = try KafkaConfigurationC.make(["log_level": "4"])
        let handle = try KafkaConfigurationC.makeHandle(type: RD_KAFKA_PRODUCER, conf: conf)
        guard let cluster = rd_kafka_mock_cluster_new(handle, Int32(clamping: brokers)),
            let bootstraps = rd_kafka_mock_cluster_bootstraps(cluster)
        else {
            rd_kafka_destroy(handle)
            throw KafkaError.invalidArgument("rd_kafka_mock_cluster_new failed")
        }
        self.handle = handle
        self.cluster = cluster
        self.bootstrapServers = String(cString: bootstraps)
    }

    /// Clients still connected see their connections drop; destroy them first when that matters.
    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(handle)
    }

    /// Creates a topic (replication factor 1). Clients learn of it at their next metadata refresh.
    public func createTopic(_ name: String, partitions: Int32) throws(KafkaError) {
        let err = rd_kafka_mock_topic_create(cluster, name, partitions, 1)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, topic: name) }
    }

    /// Disconnects broker `id` (1-based; -1 for all) and refuses new connections (its port stays
    /// reserved). Leadership does not move, so partitions led by it become unavailable until
    /// ``setBrokerUp(_:)``.
    public func setBrokerDown(_ id: Int32) {
        _ = rd_kafka_mock_broker_set_down(cluster, id)
    }

    public func setBrokerUp(_ id: Int32) {
        _ = rd_kafka_mock_broker_set_up(cluster, id)
    }

    /// Adds round-trip delay to broker `id` (-1 for all), to exercise timeouts.
    public func setBrokerRoundTripTime(_ id: Int32, milliseconds: Int32) {
        _ = rd_kafka_mock_broker_set_rtt(cluster, id, milliseconds)
    }

    /// The next `errors.count` requests of protocol `apiKey` (e.g. 0 = Produce, 8 = OffsetCommit)
    /// fail with these codes, in order. Uses the array variant: the variadic C function cannot be
    /// called from Swift.
    public func pushRequestErrors(apiKey: Int16, errors: [Int32]) {
        let codes = errors.map { rd_kafka_resp_err_t(rawValue: $0) }
        codes.withUnsafeBufferPointer { buffer in
            rd_kafka_mock_push_request_errors_array(cluster, apiKey, buffer.count, buffer.baseAddress)
        }
    }

    /// Like ``pushRequestErrors(apiKey:errors:)`` but on one broker (1-based id; its stack is used
    /// before the cluster's), and each response is also delayed by `rttMilliseconds`. A code of 0
    /// answers normally after the delay; `_TRANSPORT` (-195) closes the connection instead.
    public func pushBrokerRequestErrors(
        _ broker: Int32, apiKey: Int16, errors: [(code: Int32, rttMilliseconds: Int32)]
    ) throws(KafkaError) {
        for error in errors {
            let err = funnelpulse_mock_broker_push_request_error_rtt(
                cluster, broker, apiKey, rd_kafka_resp_err_t(rawValue: error.code), error.rttMilliseconds)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err) }
        }
    }

    /// Injected errors of broker `broker` for `apiKey` not consumed by a request yet.
    public func pendingRequestErrors(_ broker: Int32, apiKey: Int16) throws(KafkaError) -> Int {
        var count = 0
        let err = rd_kafka_mock_broker_error_stack_cnt(cluster, broker, apiKey, &count)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err) }
        return count
    }

    /// Metadata answers for `topic` carry this error code (0 clears it). With
    /// `UNKNOWN_TOPIC_OR_PART` (3) clients see the topic as absent, as on a broker with
    /// `auto.create.topics.enable=false`: the mock itself always auto-creates topics, and ignores
    /// the clients' `allow.auto.create.topics` (it speaks Metadata v0-v2 only). The topic is
    /// created behind the error if it does not exist yet.
    public func setTopicError(_ topic: String, code: Int32) {
        rd_kafka_mock_topic_set_error(cluster, topic, rd_kafka_resp_err_t(rawValue: code))
    }

    /// Drops the cluster-wide injected errors for `apiKey` that no request consumed yet.
    public func clearRequestErrors(apiKey: Int16) {
        rd_kafka_mock_clear_request_errors(cluster, apiKey)
    }
}
