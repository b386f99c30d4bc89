import CRdKafka

/// The one error type of ``FunnelKafka``.
///
/// It keeps librdkafka's own classification (`isFatal`, `isRetriable`) so callers can decide
/// between "retry", "skip" and "restart the client" without knowing librdkafka's code table,
/// plus optional topic/partition/offset context for logs and dead-letter decisions.
public struct KafkaError: Error, CustomStringConvertible, Sendable, Equatable {
    /// librdkafka's `rd_kafka_resp_err_t` value (negative = local to the client, positive = broker).
    public var code: Int32
    /// librdkafka's symbolic name for ``code``, e.g. `_QUEUE_FULL` or `TOPIC_ALREADY_EXISTS`.
    public var name: String
    /// Human-readable reason; more specific than the generic text for ``code`` when librdkafka gave one.
    public var message: String
    /// The client instance can no longer be used (e.g. idempotent producer fenced) and must be recreated.
    public var isFatal: Bool
    /// Repeating the same operation later may succeed.
    public var isRetriable: Bool
    public var topic: String?
    public var partition: Int32?
    public var offset: Int64?

    public init(
        code: Int32,
        name: String,
        message: String,
        isFatal: Bool = false,
        isRetriable: Bool = false,
        topic: String? = nil,
        partition: Int32? = nil,
        offset: Int64? = nil
    ) {
        self.code = code
        self.name = name
        self.message = message
        self.isFatal = isFatal
        self.isRetriable = isRetriable
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    /// Builds the error librdkafka would report for `code`, with its name, text and classification.
    public init(
        librdkafkaCode code: Int32,
        topic: String? = nil,
        partition: Int32? = nil,
        offset: Int64? = nil
    ) {
        self.init(rd_kafka_resp_err_t(rawValue: code), topic: topic, partition: partition, offset: offset)
    }

    public var description: String {
        var text = "KafkaError(\(name) [\(code)]: \(message)"
        if let topic { text += ", topic: \(topic)" }
        if let partition { text += ", partition: \(partition)" }
        if let offset { text += ", offset: \(offset)" }
        if isFatal { text += ", fatal" }
        if isRetriable { text += ", retriable" }
        return text + ")"
    }

    /// Returns a copy carrying topic/partition/offset context.
    public func with(topic: String?, partition: Int32? = nil, offset: Int64? = nil) -> KafkaError {
        var copy = self
        copy.topic = topic ?? copy.topic
        copy.partition = partition ?? copy.partition
        copy.offset = offset ?? copy.offset
        return copy
    }
}

// MARK: - Well-known codes

extension KafkaError {
    /// Codes the daemon compares against; the values are librdkafka's and never change.
    public enum Code {
        public static let partitionEOF: Int32 = RD_KAFKA_RESP_ERR__PARTITION_EOF.rawValue
        public static let queueFull: Int32 = RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue
        public static let timedOut: Int32 = RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue
        public static let messageTimedOut: Int32 = RD_KAFKA_RESP_ERR__MSG_TIMED_OUT.rawValue
        public static let transport: Int32 = RD_KAFKA_RESP_ERR__TRANSPORT.rawValue
        public static let allBrokersDown: Int32 = RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN.rawValue
        public static let fatal: Int32 = RD_KAFKA_RESP_ERR__FATAL.rawValue
        public static let invalidArgument: Int32 = RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue
        public static let noOffset: Int32 = RD_KAFKA_RESP_ERR__NO_OFFSET.rawValue
        public static let topicAlreadyExists: Int32 = RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS.rawValue
        public static let unknownTopicOrPartition: Int32 =
            RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART.rawValue
        public static let notLeaderForPartition: Int32 =
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION.rawValue
    }
}

// MARK: - Construction from librdkafka values (internal)

extension KafkaError {
    /// From a bare response code (delivery reports, per-partition results, legacy APIs).
    ///
    /// librdkafka only classifies `rd_kafka_error_t` objects; bare codes get the table in
    /// ``retriableCodes``, which lists the transient network/leadership/coordinator conditions.
    init(
        _ err: rd_kafka_resp_err_t,
        message: String? = nil,
        topic: String? = nil,
        partition: Int32? = nil,
        offset: Int64? = nil
    ) {
        self.init(
            code: err.rawValue,
            name: Self.name(of: err),
            message: message ?? Self.text(of: err),
            isFatal: err == RD_KAFKA_RESP_ERR__FATAL,
            isRetriable: Self.retriableCodes.contains(err.rawValue),
            topic: topic,
            partition: partition,
            offset: offset
        )
    }

    /// From an `rd_kafka_error_t` object, which it destroys: ownership passes to this initializer
    /// so no call site can leak or double-free it.
    init(consuming error: OpaquePointer) {
        let code = rd_kafka_error_code(error)
        self.init(
            code: code.rawValue,
            name: rd_kafka_error_name(error).map { String(cString: $0) } ?? Self.name(of: code),
            message: rd_kafka_error_string(error).map { String(cString: $0) } ?? Self.text(of: code),
            isFatal: rd_kafka_error_is_fatal(error) != 0,
            isRetriable: rd_kafka_error_is_retriable(error) != 0
        )
        rd_kafka_error_destroy(error)
    }

    /// For misuse detected on the Swift side (bad configuration, unknown topic handle...).
    static func invalidArgument(_ message: String) -> KafkaError {
        KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, message: message)
    }

    /// If the handle is in a fatal state, the real underlying error (not just `_FATAL`).
    static func fatalState(of handle: OpaquePointer) -> KafkaError? {
        var buffer = [CChar](repeating: 0, count: 512)
        let code = rd_kafka_fatal_error(handle, &buffer, buffer.count)
        guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        var error = KafkaError(code, message: string(fromBuffer: buffer))
        error.isFatal = true
        error.isRetriable = false
        return error
    }

    /// Text from a fixed-size C error buffer that librdkafka NUL-terminates.
    static func string(fromBuffer buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func name(of err: rd_kafka_resp_err_t) -> String {
        rd_kafka_err2name(err).map { String(cString: $0) } ?? "UNKNOWN"
    }

    static func text(of err: rd_kafka_resp_err_t) -> String {
        rd_kafka_err2str(err).map { String(cString: $0) } ?? "unknown error"
    }

    static let retriableCodes: Set<Int32> = [
        RD_KAFKA_RESP_ERR__TRANSPORT,
        RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
        RD_KAFKA_RESP_ERR__TIMED_OUT,
        RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
        RD_KAFKA_RESP_ERR__QUEUE_FULL,
        RD_KAFKA_RESP_ERR__RESOLVE,
        RD_KAFKA_RESP_ERR__WAIT_COORD,
        RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
        RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
        RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
        RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,
        RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
    ].reduce(into: Set<Int32>()) { $0.insert($1.rawValue) }
}
