import CRdKafka
import Logging

/// Moves librdkafka's log lines into swift-log.
///
/// With `log.queue=true` librdkafka never calls a log callback from its internal threads; it
/// enqueues log events on the queue set with `rd_kafka_set_log_queue`. This type owns that queue
/// and drains it from the client's own poll calls, so logging needs no lock and no C callback.
/// The queue is drained with a bound per call; if the owner stops polling, librdkafka's queue
/// holds the backlog (it is drained on the next poll and on close).
final class KafkaLogDrain {
    private let queue: OpaquePointer
    private let logger: Logger

    /// Must be called right after `rd_kafka_new`, with `log.queue=true` in the configuration.
    init?(handle: OpaquePointer, logger: Logger) {
        guard let queue = rd_kafka_queue_new(handle) else { return nil }
        self.queue = queue
        self.logger = logger
        rd_kafka_set_log_queue(handle, queue)
    }

    /// Destroys the queue; must run before `rd_kafka_destroy` of the owning handle.
    deinit {
        rd_kafka_queue_destroy(queue)
    }

    /// Emits up to `limit` pending log lines without blocking.
    func drain(limit: Int = 512) {
        for _ in 0..<limit {
            guard let event = rd_kafka_queue_poll(queue, 0) else { return }
            defer { rd_kafka_event_destroy(event) }
            guard rd_kafka_event_type(event) == RD_KAFKA_EVENT_LOG else { continue }
            var facility: UnsafePointer<CChar>?
            var text: UnsafePointer<CChar>?
            var level: Int32 = 6
            guard rd_kafka_event_log(event, &facility, &text, &level) == 0 else { continue }
            let swiftLevel = Self.level(syslog: level)
            guard swiftLevel >= logger.logLevel else { continue }
            logger.log(
                level: swiftLevel,
                "\(text.map { String(cString: $0) } ?? "")",
                metadata: ["rdkafka.facility": "\(facility.map { String(cString: $0) } ?? "")"],
                source: "librdkafka"
            )
        }
    }

    /// syslog(3) severities as librdkafka uses them, mapped to swift-log levels.
    static func level(syslog: Int32) -> Logger.Level {
        switch syslog {
        case ...2: return .critical
        case 3: return .error
        case 4: return .warning
        case 5: return .notice
        case 6: return .info
        default: return .debug
        }
    }
}
