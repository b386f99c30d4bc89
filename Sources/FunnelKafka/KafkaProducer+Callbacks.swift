import CRdKafka
import Logging
import Synchronization

/// State reached from the producer's C callbacks through the configuration opaque.
///
/// librdkafka serves these callbacks from whichever thread calls `rd_kafka_poll`/`rd_kafka_flush`
/// (including ``KafkaProducer/send(topic:key:value:headers:token:)`` under back-pressure), so all
/// state is behind a `Mutex`. The delivery-report callback only appends `(token, error?)`; the
/// daemon drains the buffer on its own schedule.
final class ProducerCallbacks: Sendable {
    struct Report {
        var token: UInt64
        var error: KafkaError?
    }

    let logger: Logger
    let reports = Mutex<[Report]>([])
    let onStatistics = Mutex<(@Sendable (KafkaStatistics) -> Void)?>(nil)
    let onError = Mutex<(@Sendable (KafkaError) -> Void)?>(nil)

    init(logger: Logger) {
        self.logger = logger
    }

    func delivered(_ message: UnsafePointer<rd_kafka_message_t>) {
        let raw = message.pointee
        let token = UInt64(UInt(bitPattern: raw._private))
        var error: KafkaError?
        if raw.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            // Only failures pay for strings.
            error = KafkaError(
                raw.err,
                topic: raw.rkt.flatMap { rd_kafka_topic_name($0) }.map { String(cString: $0) },
                partition: raw.partition >= 0 ? raw.partition : nil
            )
        }
        reports.withLock { $0.append(Report(token: token, error: error)) }
    }

    func report(_ error: KafkaError) {
        if let hook = onError.withLock({ $0 }) {
            hook(error)
        } else {
            logger.warning("kafka producer error", metadata: ["error": "\(error)"])
        }
    }

    func statistics(json: UnsafeRawBufferPointer) {
        guard let hook = onStatistics.withLock({ $0 }) else { return }
        do {
            hook(try KafkaStatistics(json: json))
        } catch {
            logger.warning("unparsable librdkafka statistics", metadata: ["error": "\(error)"])
        }
    }

    func install(on conf: OpaquePointer, statistics: Bool) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
            guard let message, let opaque else { return }
            Unmanaged<ProducerCallbacks>.fromOpaque(opaque).takeUnretainedValue().delivered(message)
        }
        rd_kafka_conf_set_error_cb(conf) { handle, err, reason, opaque in
            guard let opaque else { return }
            let box = Unmanaged<ProducerCallbacks>.fromOpaque(opaque).takeUnretainedValue()
            let code = rd_kafka_resp_err_t(rawValue: err)
            if code == RD_KAFKA_RESP_ERR__FATAL, let handle, let fatal = KafkaError.fatalState(of: handle) {
                box.report(fatal)
            } else {
                box.report(KafkaError(code, message: reason.map { String(cString: $0) }))
            }
        }
        if statistics {
            rd_kafka_conf_set_stats_cb(conf) { _, json, length, opaque in
                guard let opaque, let json else { return 0 }
                Unmanaged<ProducerCallbacks>.fromOpaque(opaque).takeUnretainedValue()
                    .statistics(json: UnsafeRawBufferPointer(start: json, count: length))
                return 0  // librdkafka frees the JSON
            }
        }
    }
}
