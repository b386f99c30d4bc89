import CRdKafka
import Logging
import Synchronization

/// State reached from the producer's C callbacks through the configuration opaque.
///
/// librdkafka serves these callbacks from whichever thread calls `rd_kafka_poll`/`rd_kafka_flush`
/// (including ``KafkaProducer/send(topic:key:value:headers:token:)`` under back-pressure), so all
/// state is behind a `Mutex`. The delivery-report callback only appends a ``KafkaDeliveryReport``
/// (token, and for a failure its error, key and value); the daemon drains the buffer on its own
/// schedule.
final class ProducerCallbacks: Sendable {
    let logger: Logger
    let reports = Mutex<[KafkaDeliveryReport]>([])
    let onStatistics = Mutex<(@Sendable (KafkaStatistics) -> Void)?>(nil)
    let onError = Mutex<(@Sendable (KafkaError) -> Void)?>(nil)

    init(logger: Logger) {
        self.logger = logger
    }

    func delivered(_ message: UnsafePointer<rd_kafka_message_t>) {
        let raw = message.pointee
        let token = UInt64(UInt(bitPattern: raw._private))
        var report = KafkaDeliveryReport(token: token)
        if raw.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            // Only failures pay for strings, and for a copy of the message (librdkafka frees its
            // own when this callback returns): the sender re-sends from it instead of keeping a
            // copy of every record in flight.
            report.error = KafkaError(
                raw.err,
                topic: raw.rkt.flatMap { rd_kafka_topic_name($0) }.map { String(cString: $0) },
                partition: raw.partition >= 0 ? raw.partition : nil
            )
            report.failedKey = raw.key.map { Array(UnsafeRawBufferPointer(start: $0, count: raw.key_len)) }
            report.failedValue = raw.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: raw.len)) }
        }
        reports.withLock { $0.append(report) }
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

/// The outcome of one produced message, as its delivery report told it.
public struct KafkaDeliveryReport: Sendable {
    /// The `token` the message was sent with.
    public var token: UInt64
    /// `nil`: the broker acknowledged the message.
    public var error: KafkaError?
    /// A failed message's key and value as librdkafka held them (`nil` when it had none, and for
    /// delivered messages), so a failed record can be re-sent without the sender keeping a copy.
    public var failedKey: [UInt8]?
    public var failedValue: [UInt8]?

    public init(token: UInt64, error: KafkaError? = nil, failedKey: [UInt8]? = nil, failedValue: [UInt8]? = nil) {
        self.token = token
        self.error = error
        self.failedKey = failedKey
        self.failedValue = failedValue
    }
}
