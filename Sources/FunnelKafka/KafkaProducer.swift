import CRdKafka
import Logging
import Synchronization

/// An idempotent-by-default producer whose delivery results come back as opaque tokens.
///
/// `send` is safe from several threads (librdkafka's produce call is thread-safe; the topic-handle
/// cache is locked). Delivery reports are buffered by the C callback and handed out by
/// ``drainDeliveryReports(_:)``; they are produced by ``poll(timeoutMilliseconds:)``,
/// ``flush(timeoutMilliseconds:)`` and by `send` itself when it waits for queue space. The buffer
/// grows with the number of reports not yet drained, so drain after every poll.
public final class KafkaProducer: @unchecked Sendable {
    private let handle: OpaquePointer
    private let logger: Logger
    private let callbacks: ProducerCallbacks
    private let logDrain: Mutex<KafkaLogDrain?>
    private let topics = Mutex<[String: OpaquePointer]>([:])
    private let queueFullRetries: Int
    private let queueFullPollMilliseconds: Int32

    /// Parsed statistics, when `statistics.interval.ms` is set. Runs on the polling thread.
    public var onStatistics: (@Sendable (KafkaStatistics) -> Void)? {
        get { callbacks.onStatistics.withLock { $0 } }
        set { callbacks.onStatistics.withLock { $0 = newValue } }
    }
    /// Client-level errors (brokers down, fatal idempotence errors). Logged when unset.
    public var onError: (@Sendable (KafkaError) -> Void)? {
        get { callbacks.onError.withLock { $0 } }
        set { callbacks.onError.withLock { $0 = newValue } }
    }

    /// - Parameters:
    ///   - configuration: librdkafka properties; `enable.idempotence` defaults to `true` here
    ///     (no duplicates or reordering on retry) unless set explicitly.
    ///   - queueFullRetries: how many times `send` polls and retries when librdkafka's local queue
    ///     is full before throwing `_QUEUE_FULL`; with `queueFullPollMilliseconds` this bounds
    ///     how long a send may block.
    public init(
        configuration: [String: String],
        logger: Logger,
        queueFullRetries: Int = 100,
        queueFullPollMilliseconds: Int32 = 10
    ) throws(KafkaError) {
        var settings = configuration
        if settings["enable.idempotence"] == nil {
            settings["enable.idempotence"] = "true"
        }
        settings["log.queue"] = "true"
        let conf = try KafkaConfigurationC.make(settings)
        let callbacks = ProducerCallbacks(logger: logger)
        callbacks.install(on: conf, statistics: settings["statistics.interval.ms"] != nil)
        let handle = try KafkaConfigurationC.makeHandle(type: RD_KAFKA_PRODUCER, conf: conf)
        self.handle = handle
        self.logger = logger
        self.callbacks = callbacks
        self.logDrain = Mutex(KafkaLogDrain(handle: handle, logger: logger))
        self.queueFullRetries = max(0, queueFullRetries)
        self.queueFullPollMilliseconds = max(0, queueFullPollMilliseconds)
    }

    /// Does not flush: call ``flush(timeoutMilliseconds:)`` first or undelivered messages are lost.
    deinit {
        for topic in topics.withLock({ Array($0.values) }) {
            rd_kafka_topic_destroy(topic)
        }
        logDrain.withLock { drain in
            drain?.drain()
            drain = nil  // queue must go before rd_kafka_destroy
        }
        rd_kafka_destroy(handle)
    }

    // MARK: - Producing

    /// Enqueues one message; librdkafka copies key, value and headers before returning.
    ///
    /// - Parameters:
    ///   - value: `nil` produces a null value (a tombstone for compacted topics).
    ///   - token: returned with this message's delivery report.
    ///   - partition: a fixed partition; `nil` lets the configured partitioner choose (by key).
    /// - Throws: `_QUEUE_FULL` after the configured retries, or any immediate produce error
    ///   (unknown topic, message too large, fatal state).
    public func send(
        topic: String,
        key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer?,
        headers: [KafkaHeader] = [],
        token: UInt64,
        partition: Int32? = nil
    ) throws(KafkaError) {
        try send(topic: self.topic(topic), key: key, value: value, headerCount: headers.count, token: token,
                 partition: partition) { list in
            for header in headers {
                // Copies name and value; fails only on a read-only list, which a new one is not.
                _ = header.value.withUnsafeBytes { bytes in
                    rd_kafka_header_add(list, header.name, -1, bytes.isEmpty ? nil : bytes.baseAddress, bytes.count)
                }
            }
        }
    }

    /// The per-record form of ``send(topic:key:value:headers:token:partition:)``: a topic resolved
    /// once and headers borrowed from the caller, so the Swift side allocates nothing per message.
    public func send(
        topic: KafkaTopic,
        key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer?,
        headers: UnsafeBufferPointer<KafkaHeaderView>,
        token: UInt64,
        partition: Int32? = nil
    ) throws(KafkaError) {
        try send(topic: topic, key: key, value: value, headerCount: headers.count, token: token,
                 partition: partition) { list in
            for header in headers {
                _ = header.name.withUTF8Buffer { name in
                    name.withMemoryRebound(to: CChar.self) { name in
                        rd_kafka_header_add(list, name.baseAddress, name.count,
                                            header.value.isEmpty ? nil : header.value.baseAddress, header.value.count)
                    }
                }
            }
        }
    }

    private func send(
        topic: KafkaTopic,
        key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer?,
        headerCount: Int,
        token: UInt64,
        partition: Int32?,
        addHeaders: (OpaquePointer) -> Void
    ) throws(KafkaError) {
        var attempt = 0
        while true {
            guard let error = produce(topic.handle, key, value, headerCount, addHeaders, token, partition) else { return }
            let kafkaError = KafkaError(consuming: error)
            guard kafkaError.code == KafkaError.Code.queueFull, attempt < queueFullRetries else {
                throw kafkaError.with(topic: topic.name)
            }
            attempt += 1
            rd_kafka_poll(handle, queueFullPollMilliseconds)
        }
    }

    /// One `rd_kafka_produceva` call; argument array on the stack.
    ///
    /// Headers go in as one list we build (`VTYPE_HEADERS`), not one `VTYPE_HEADER` per header:
    /// librdkafka before 2.12 frees its own `VTYPE_HEADER` list twice when the partitioner refuses
    /// the message (a topic the client knows does not exist) and the process crashes. A list passed
    /// with `VTYPE_HEADERS` belongs to librdkafka only once the call succeeds; on any error it is
    /// still ours to destroy.
    private func produce(
        _ topic: OpaquePointer,
        _ key: UnsafeRawBufferPointer?,
        _ value: UnsafeRawBufferPointer?,
        _ headerCount: Int,
        _ addHeaders: (OpaquePointer) -> Void,
        _ token: UInt64,
        _ partition: Int32?
    ) -> OpaquePointer? {
        var headerList: OpaquePointer?
        if headerCount > 0, let list = rd_kafka_headers_new(headerCount) {
            addHeaders(list)
            headerList = list
        }
        let count = 4 + (key == nil ? 0 : 1) + (headerList == nil ? 0 : 1) + (partition == nil ? 0 : 1)
        let error = withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: count) { arguments in
            var index = 0
            func add(_ configure: (inout rd_kafka_vu_t) -> Void) {
                var argument = rd_kafka_vu_t()
                configure(&argument)
                arguments.initializeElement(at: index, to: argument)
                index += 1
            }
            add { $0.vtype = RD_KAFKA_VTYPE_RKT; $0.u.rkt = topic }
            add { $0.vtype = RD_KAFKA_VTYPE_MSGFLAGS; $0.u.i = RD_KAFKA_MSG_F_COPY }
            add {
                $0.vtype = RD_KAFKA_VTYPE_VALUE
                // A zero-length non-nil value must stay "empty", not become a tombstone.
                $0.u.mem.ptr = value.map { UnsafeMutableRawPointer(mutating: $0.baseAddress ?? Self.emptyValue) }
                $0.u.mem.size = value?.count ?? 0
            }
            add { $0.vtype = RD_KAFKA_VTYPE_OPAQUE; $0.u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(token)) }
            if let key {
                add {
                    $0.vtype = RD_KAFKA_VTYPE_KEY
                    $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress ?? Self.emptyValue)
                    $0.u.mem.size = key.count
                }
            }
            if let headerList {
                add { $0.vtype = RD_KAFKA_VTYPE_HEADERS; $0.u.headers = headerList }
            }
            if let partition {
                add { $0.vtype = RD_KAFKA_VTYPE_PARTITION; $0.u.i32 = partition }
            }
            defer { arguments.baseAddress?.deinitialize(count: index) }
            return rd_kafka_produceva(handle, arguments.baseAddress, index)
        }
        if error != nil, let headerList { rd_kafka_headers_destroy(headerList) }
        return error
    }

    /// A real, never-freed address for zero-length keys/values: Swift may give an empty buffer
    /// a nil base address, which librdkafka would read as "null" instead of "empty".
    /// Immutable after creation and never written through, hence `nonisolated(unsafe)`.
    nonisolated(unsafe) private static let emptyValue = UnsafeRawPointer(
        UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)
    )

    /// The handle of topic `name`, created on first use and kept: `rd_kafka_topic_new` takes a lock
    /// and allocates, which the per-message path must not do. Resolve once, then send with it.
    public func topic(_ name: String) throws(KafkaError) -> KafkaTopic {
        let result: OpaquePointer? = topics.withLock { cache in
            if let cached = cache[name] { return cached }
            guard let created = rd_kafka_topic_new(handle, name, nil) else { return nil }
            cache[name] = created
            return created
        }
        guard let result else {
            throw KafkaError(rd_kafka_last_error(), topic: name)
        }
        return KafkaTopic(handle: result, name: name)
    }

    // MARK: - Delivery

    /// Serves callbacks (delivery reports, statistics, errors) for up to `timeoutMilliseconds`.
    /// Blocks: keep it off the cooperative pool unless the timeout is 0.
    @discardableResult
    public func poll(timeoutMilliseconds: Int32) -> Int {
        let served = rd_kafka_poll(handle, timeoutMilliseconds)
        logDrain.withLock { $0?.drain() }
        return Int(served)
    }

    /// Hands out and clears the buffered delivery reports; `nil` error means delivered (acked).
    public func drainDeliveryReports(_ body: (UInt64, KafkaError?) -> Void) {
        drainDeliveries { body($0.token, $0.error) }
    }

    /// Hands out and clears the buffered delivery reports, failed ones with their key and value.
    public func drainDeliveries(_ body: (KafkaDeliveryReport) -> Void) {
        let batch = callbacks.reports.withLock { reports -> [KafkaDeliveryReport] in
            let batch = reports
            reports = []
            return batch
        }
        for report in batch {
            body(report)
        }
    }

    /// Waits until every queued message has a delivery report (still to be drained).
    /// - Throws: `_TIMED_OUT` if messages are still outstanding at the deadline.
    public func flush(timeoutMilliseconds: Int32) throws(KafkaError) {
        let err = rd_kafka_flush(handle, timeoutMilliseconds)
        logDrain.withLock { $0?.drain() }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            var error = KafkaError(err)
            error.message += " (\(outstanding) messages outstanding)"
            throw error
        }
    }

    /// Messages and requests not yet acknowledged (`rd_kafka_outq_len`).
    public var outstanding: Int {
        Int(rd_kafka_outq_len(handle))
    }

    /// One Metadata round trip to any broker: returns once a broker answered (brokers reachable),
    /// throws when none did within the timeout. Blocks the calling thread; serves no callbacks.
    public func probeBrokers(timeoutMilliseconds: Int32) throws(KafkaError) {
        try KafkaBrokerProbe.probe(handle, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// The error that made this producer unusable (e.g. fenced idempotent producer), if any.
    public func fatalState() -> KafkaError? {
        KafkaError.fatalState(of: handle)
    }
}
