import CRdKafka

/// A metadata round trip on a client handle: the cheapest request that proves a broker answers
/// right now. librdkafka has no "a broker is back" event (only `_ALL_BROKERS_DOWN` when they go),
/// so whoever needs to know when an outage ended asks.
enum KafkaBrokerProbe {
    /// Blocks until a broker answered a Metadata request for the locally known topics, or the
    /// timeout passed. Triggers a connection attempt if no broker is connected (subject to
    /// librdkafka's reconnect backoff).
    static func probe(_ handle: OpaquePointer, timeoutMilliseconds: Int32) throws(KafkaError) {
        var metadata: UnsafePointer<rd_kafka_metadata_t>?
        let err = rd_kafka_metadata(handle, 0, nil, &metadata, max(1, timeoutMilliseconds))
        if let metadata { rd_kafka_metadata_destroy(metadata) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(err, message: "no broker answered within \(timeoutMilliseconds) ms: \(KafkaError.text(of: err))")
        }
    }
}
