import CRdKafka

/// Turns the `[String: String]` passthrough into an `rd_kafka_conf_t`.
///
/// Keys are passed to librdkafka verbatim so any documented property works without a Swift
/// mirror of librdkafka's 300 settings; unknown keys or bad values surface as ``KafkaError``
/// naming the key, at construction time rather than at first use.
enum KafkaConfigurationC {
    /// Builds a new configuration object. The caller owns it until `rd_kafka_new` succeeds.
    static func make(_ configuration: [String: String]) throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError.invalidArgument("rd_kafka_conf_new failed")
        }
        // Sorted so that errors (and librdkafka's "last one wins" for aliases) are deterministic.
        for (key, value) in configuration.sorted(by: { $0.key < $1.key }) {
            do {
                try set(conf, key, value)
            } catch {
                rd_kafka_conf_destroy(conf)
                throw error
            }
        }
        return conf
    }

    static func set(_ conf: OpaquePointer, _ key: String, _ value: String) throws(KafkaError) {
        var errorText = [CChar](repeating: 0, count: 512)
        let result = rd_kafka_conf_set(conf, key, value, &errorText, errorText.count)
        guard result == RD_KAFKA_CONF_OK else {
            throw KafkaError.invalidArgument(
                "configuration \(key)=\(KafkaSecrets.display(key, value)): \(KafkaError.string(fromBuffer: errorText))"
            )
        }
    }

    /// Creates the client handle; on failure the configuration is destroyed here, because
    /// `rd_kafka_new` only takes ownership of it on success.
    static func makeHandle(
        type: rd_kafka_type_t,
        conf: OpaquePointer
    ) throws(KafkaError) -> OpaquePointer {
        var errorText = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(type, conf, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError.invalidArgument("rd_kafka_new: \(KafkaError.string(fromBuffer: errorText))")
        }
        return handle
    }
}
