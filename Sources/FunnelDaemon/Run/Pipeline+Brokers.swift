import FunnelKafka

// MARK: - Broker reachability for /readyz (pipeline thread)

extension Pipeline {
    /// How long a reachability probe may hold the pipeline thread. Probes only run while a
    /// client has lost every broker, when there is nothing to consume or deliver anyway.
    static let brokerProbeTimeoutMilliseconds: Int32 = 200

    /// Client-level errors of the consumer and producer. librdkafka recovers from all of them by
    /// itself; `_ALL_BROKERS_DOWN` also makes `/readyz` fail until a broker answers again.
    /// Both clients' callbacks are served by the polls of the pipeline thread.
    func clientError(_ error: KafkaError, client: String) {
        logger.warning("kafka \(client) error", metadata: ["error": "\(error)"])
        if error.code == KafkaError.Code.allBrokersDown {
            health.brokersDown(client, reason: error.message)
        }
    }

    /// librdkafka reports when every broker is down but not when one is back, so while a client is
    /// marked down (see ``clientError(_:client:)``) each call asks its brokers for metadata, and an
    /// answer clears the mark. Called about once a second; a no-op while brokers are reachable.
    func probeUnreachableBrokers() {
        let down = health.snapshot.brokersDown
        guard !down.isEmpty else { return }
        for client in down.keys.sorted() {
            do {
                if client == "consumer" {
                    try consumer.probeBrokers(timeoutMilliseconds: Self.brokerProbeTimeoutMilliseconds)
                } else {
                    try publisher.producer.probeBrokers(timeoutMilliseconds: Self.brokerProbeTimeoutMilliseconds)
                }
                health.brokersReachable(client)
                logger.warning("kafka brokers reachable again", metadata: ["client": "\(client)"])
            } catch {
                logger.debug("kafka brokers still unreachable", metadata: ["client": "\(client)", "error": "\(error)"])
            }
        }
    }
}
