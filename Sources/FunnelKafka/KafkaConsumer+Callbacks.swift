import CRdKafka
import Logging

/// State that librdkafka's C callbacks reach through the configuration opaque.
///
/// Every consumer callback (rebalance, error, statistics, offset commit) is served by librdkafka
/// from inside `rd_kafka_consumer_poll`/`rd_kafka_consumer_close`, i.e. on the single thread that
/// drives the consumer, so this box needs no lock. It is owned by ``KafkaConsumer`` and outlives
/// the `rd_kafka_t` (the handle is destroyed in the consumer's `deinit` body, before stored
/// properties are released).
final class ConsumerCallbacks {
    let logger: Logger
    var onPartitionsAssigned: (([TopicPartition]) -> Void)?
    var startOffset: ((TopicPartition) -> Int64?)?
    var onPartitionsRevoked: (([TopicPartition]) -> Void)?
    var onPartitionEOF: ((TopicPartition, Int64) -> Void)?
    var onError: ((KafkaError) -> Void)?
    var onStatistics: ((KafkaStatistics) -> Void)?

    init(logger: Logger) {
        self.logger = logger
    }

    /// Unhooks user code, so nothing user-owned runs while the handle is torn down in `deinit`.
    func clear() {
        onPartitionsAssigned = nil
        onPartitionsRevoked = nil
        onPartitionEOF = nil
        onError = nil
        onStatistics = nil
    }

    func report(_ error: KafkaError) {
        if let onError {
            onError(error)
        } else {
            logger.warning("kafka consumer error", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Rebalance

    /// Runs the user's hook first, then changes the assignment: on revoke the daemon must be able
    /// to finish in-flight work and commit while the partitions are still assigned.
    func rebalance(
        handle: OpaquePointer,
        err: rd_kafka_resp_err_t,
        partitions: TopicPartitionListC.ListPointer?
    ) {
        let list = partitions.map(TopicPartitionListC.partitions) ?? []
        let protocolName = rd_kafka_rebalance_protocol(handle).map { String(cString: $0) } ?? ""
        let cooperative = protocolName == "COOPERATIVE"
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            logger.info("partitions assigned", metadata: ["partitions": "\(list)"])
            onPartitionsAssigned?(list)
            if let startOffset, let partitions { Self.setOffsets(partitions, startOffset) }
            if cooperative {
                check(rd_kafka_incremental_assign(handle, partitions), what: "incremental assign")
            } else {
                check(rd_kafka_assign(handle, partitions), what: "assign")
            }
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let lost = rd_kafka_assignment_lost(handle) != 0
            logger.info(
                "partitions revoked",
                metadata: ["partitions": "\(list)", "lost": "\(lost)"]
            )
            onPartitionsRevoked?(list)
            if cooperative {
                check(rd_kafka_incremental_unassign(handle, partitions), what: "incremental unassign")
            } else {
                check(rd_kafka_assign(handle, nil), what: "unassign")
            }
        default:
            report(KafkaError(err, message: "rebalance failed: \(KafkaError.text(of: err))"))
            check(rd_kafka_assign(handle, nil), what: "unassign after rebalance error")
        }
    }

    /// Overrides the start offset of the partitions the provider knows (a restored checkpoint).
    private static func setOffsets(_ list: TopicPartitionListC.ListPointer, _ provider: (TopicPartition) -> Int64?) {
        let count = Int(list.pointee.cnt)
        guard count > 0, let elements = list.pointee.elems else { return }
        for index in 0..<count {
            guard let name = elements[index].topic else { continue }
            let partition = TopicPartition(topic: String(cString: name), partition: elements[index].partition)
            if let offset = provider(partition) { elements[index].offset = offset }
        }
    }

    private func check(_ err: rd_kafka_resp_err_t, what: String) {
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return }
        report(KafkaError(err, message: "\(what): \(KafkaError.text(of: err))"))
    }

    private func check(_ error: OpaquePointer?, what: String) {
        guard let error else { return }
        var kafkaError = KafkaError(consuming: error)
        kafkaError.message = "\(what): \(kafkaError.message)"
        report(kafkaError)
    }

    // MARK: - Statistics and commits

    func statistics(json: UnsafeRawBufferPointer) {
        guard let onStatistics else { return }
        do {
            onStatistics(try KafkaStatistics(json: json))
        } catch {
            logger.warning("unparsable librdkafka statistics", metadata: ["error": "\(error)"])
        }
    }

    /// Async commits report here; `_NO_OFFSET` (nothing stored since the last commit) is normal.
    func committed(err: rd_kafka_resp_err_t, offsets: TopicPartitionListC.ListPointer?) {
        if err != RD_KAFKA_RESP_ERR_NO_ERROR, err != RD_KAFKA_RESP_ERR__NO_OFFSET {
            report(KafkaError(err, message: "offset commit failed: \(KafkaError.text(of: err))"))
        } else if let offsets, let partitionError = TopicPartitionListC.firstError(offsets) {
            report(partitionError)
        }
    }

    // MARK: - Installation on a configuration

    /// Installs the C trampolines; each recovers this box from the opaque and does nothing if
    /// librdkafka passes NULLs.
    func install(on conf: OpaquePointer, statistics: Bool) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_rebalance_cb(conf) { handle, err, partitions, opaque in
            guard let handle, let opaque else { return }
            Unmanaged<ConsumerCallbacks>.fromOpaque(opaque).takeUnretainedValue()
                .rebalance(handle: handle, err: err, partitions: partitions)
        }
        rd_kafka_conf_set_error_cb(conf) { handle, err, reason, opaque in
            guard let opaque else { return }
            let box = Unmanaged<ConsumerCallbacks>.fromOpaque(opaque).takeUnretainedValue()
            let code = rd_kafka_resp_err_t(rawValue: err)
            if code == RD_KAFKA_RESP_ERR__FATAL, let handle, let fatal = KafkaError.fatalState(of: handle) {
                box.report(fatal)
            } else {
                box.report(KafkaError(code, message: reason.map { String(cString: $0) }))
            }
        }
        rd_kafka_conf_set_offset_commit_cb(conf) { _, err, offsets, opaque in
            guard let opaque else { return }
            Unmanaged<ConsumerCallbacks>.fromOpaque(opaque).takeUnretainedValue()
                .committed(err: err, offsets: offsets)
        }
        if statistics {
            rd_kafka_conf_set_stats_cb(conf) { _, json, length, opaque in
                guard let opaque, let json else { return 0 }
                Unmanaged<ConsumerCallbacks>.fromOpaque(opaque).takeUnretainedValue()
                    .statistics(json: UnsafeRawBufferPointer(start: json, count: length))
                return 0  // librdkafka frees the JSON
            }
        }
    }
}
