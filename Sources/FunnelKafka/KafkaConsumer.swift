import CRdKafka
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A consumer-group member with manual offset storage.
///
/// `@unchecked Sendable` so it can be handed to the one thread that drives it; it is **not** safe
/// to call from several threads at once. Every method, and every hook (``onPartitionsRevoked``,
/// ``onPartitionsAssigned``, ``onPartitionEOF``, ``onError``, ``onStatistics``), runs on that
/// thread: librdkafka serves its callbacks from inside ``pollBatch(maxMessages:timeoutMilliseconds:_:)``
/// and ``close()``. Hooks may call back into the consumer (store offsets, `commitSync`); capture
/// the consumer `weak` in them, since the consumer keeps the hooks alive.
///
/// Offsets: `enable.auto.offset.store` is forced to `false`. Nothing is committed unless the caller
/// stores it with ``storeOffset(topic:partition:offset:)`` (auto-commit, if enabled, then commits
/// only stored offsets), so a message counts as done only when the daemon says so.
public final class KafkaConsumer: @unchecked Sendable {
    private let handle: OpaquePointer
    private let logger: Logger
    private let callbacks: ConsumerCallbacks
    private var logDrain: KafkaLogDrain?
    private var closed = false
    /// Topic names by topic handle, so the message path does not build a `String` per message.
    private var topicNames: [OpaquePointer: String] = [:]

    // MARK: - Hooks

    /// Called on the polling thread before the partitions are taken away (rebalance or ``close()``).
    /// Finish in-flight work for them and commit synchronously here.
    public var onPartitionsRevoked: (([TopicPartition]) -> Void)? {
        get { callbacks.onPartitionsRevoked }
        set { callbacks.onPartitionsRevoked = newValue }
    }
    /// Called before the new assignment takes effect (fetching has not started yet).
    public var onPartitionsAssigned: (([TopicPartition]) -> Void)? {
        get { callbacks.onPartitionsAssigned }
        set { callbacks.onPartitionsAssigned = newValue }
    }
    /// Consulted for each newly assigned partition: an offset to start from instead of the
    /// committed one (a daemon resuming from a checkpoint), or nil for the committed offset.
    public var startOffset: ((TopicPartition) -> Int64?)? {
        get { callbacks.startOffset }
        set { callbacks.startOffset = newValue }
    }
    /// Partition reached its end (`enable.partition.eof=true` only); the offset is the next one
    /// to be produced. Not an error: replay drivers use it to know they are caught up.
    public var onPartitionEOF: ((TopicPartition, Int64) -> Void)? {
        get { callbacks.onPartitionEOF }
        set { callbacks.onPartitionEOF = newValue }
    }
    /// Non-fatal errors (broker transport, all brokers down, failed async commit...). librdkafka
    /// recovers from these by itself; without a hook they are logged as warnings.
    public var onError: ((KafkaError) -> Void)? {
        get { callbacks.onError }
        set { callbacks.onError = newValue }
    }
    /// Parsed statistics, when `statistics.interval.ms` is set in the configuration.
    public var onStatistics: ((KafkaStatistics) -> Void)? {
        get { callbacks.onStatistics }
        set { callbacks.onStatistics = newValue }
    }

    // MARK: - Lifecycle

    /// - Parameter configuration: librdkafka properties; `group.id` and `bootstrap.servers` are
    ///   required. Use an eager assignor (`range`/`roundrobin`): `cooperative-sticky` can hit an
    ///   assertion in librdkafka 2.0.2 when a member closes before its first assignment.
    public init(configuration: [String: String], logger: Logger) throws(KafkaError) {
        guard configuration["group.id"] != nil else {
            throw KafkaError.invalidArgument("consumer configuration needs group.id")
        }
        if configuration["partition.assignment.strategy"]?.contains("cooperative") == true {
            logger.warning("cooperative-sticky is unreliable with librdkafka 2.0.2; prefer range")
        }
        var settings = configuration
        settings["enable.auto.offset.store"] = "false"
        settings["log.queue"] = "true"
        let conf = try KafkaConfigurationC.make(settings)
        let callbacks = ConsumerCallbacks(logger: logger)
        callbacks.install(on: conf, statistics: settings["statistics.interval.ms"] != nil)
        let handle = try KafkaConfigurationC.makeHandle(type: RD_KAFKA_CONSUMER, conf: conf)
        self.handle = handle
        self.logger = logger
        self.callbacks = callbacks
        self.logDrain = KafkaLogDrain(handle: handle, logger: logger)
        // One queue for messages and callbacks: rebalance/stats/errors are served by consumer_poll.
        rd_kafka_poll_set_consumer(handle)
    }

    deinit {
        callbacks.clear()
        if !closed {
            rd_kafka_consumer_close(handle)
        }
        logDrain?.drain()
        logDrain = nil  // the queue must be gone before rd_kafka_destroy, or destroy waits for it
        rd_kafka_destroy(handle)
    }

    /// Leaves the group: runs ``onPartitionsRevoked`` (commit there), then stops fetching.
    /// Blocks until the group leave completes. Idempotent.
    public func close() throws(KafkaError) {
        guard !closed else { return }
        closed = true
        let err = rd_kafka_consumer_close(handle)
        logDrain?.drain()
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err) }
    }

    public func subscribe(topics: [String]) throws(KafkaError) {
        guard !topics.isEmpty else { throw KafkaError.invalidArgument("subscribe needs topics") }
        let partitions = topics.map { TopicPartition(topic: $0, partition: RD_KAFKA_PARTITION_UA) }
        try TopicPartitionListC.with(partitions) { list throws(KafkaError) in
            let err = rd_kafka_subscribe(handle, list)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err) }
        }
    }

    // MARK: - Consuming

    /// Hands up to `maxMessages` messages to `body`, waiting at most `timeoutMilliseconds` for the
    /// first event and not at all afterwards. Rebalance, statistics and error hooks run inside.
    ///
    /// Blocks the calling thread: call it from a dedicated thread, never from the cooperative pool
    /// with a non-zero timeout.
    /// - Returns: the number of messages handed to `body` (EOF and error events are not counted).
    /// - Throws: a fatal ``KafkaError``, or whatever `body` throws (the message is still destroyed).
    @discardableResult
    public func pollBatch(
        maxMessages: Int,
        timeoutMilliseconds: Int32,
        _ body: (KafkaMessageView) throws -> Void
    ) throws -> Int {
        logDrain?.drain()
        var delivered = 0
        var timeout = timeoutMilliseconds
        while delivered < maxMessages, let message = rd_kafka_consumer_poll(handle, timeout) {
            timeout = 0
            defer { rd_kafka_message_destroy(message) }
            let err = message.pointee.err
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                try handleErrorMessage(message, err)
                continue
            }
            try body(KafkaMessageView(message: message, topic: topicName(message.pointee.rkt)))
            delivered += 1
        }
        return delivered
    }

    /// Errors librdkafka delivers in place of a message: EOF goes to its hook, fatal errors throw,
    /// the rest are reported and consumption continues (librdkafka retries by itself).
    private func handleErrorMessage(
        _ message: UnsafeMutablePointer<rd_kafka_message_t>,
        _ err: rd_kafka_resp_err_t
    ) throws(KafkaError) {
        let raw = message.pointee
        let topic = raw.rkt.map { topicName($0) }
        if err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
            if let topic { callbacks.onPartitionEOF?(TopicPartition(topic: topic, partition: raw.partition), raw.offset) }
            return
        }
        if err == RD_KAFKA_RESP_ERR__FATAL {
            throw (KafkaError.fatalState(of: handle) ?? KafkaError(err)).with(topic: topic)
        }
        let text = rd_kafka_message_errstr(message).map { String(cString: $0) }
        callbacks.report(
            KafkaError(
                err,
                message: text,
                topic: topic,
                partition: raw.rkt == nil ? nil : raw.partition,
                offset: raw.offset >= 0 ? raw.offset : nil
            )
        )
    }

    private func topicName(_ topic: OpaquePointer?) -> String {
        guard let topic, let cName = rd_kafka_topic_name(topic) else { return "" }
        // The handle address could in principle be reused for another topic; the compare is cheap.
        if let cached = topicNames[topic], cached.withCString({ strcmp($0, cName) == 0 }) {
            return cached
        }
        let name = String(cString: cName)
        topicNames[topic] = name
        return name
    }

    // MARK: - Offsets

    /// Marks everything before `offset` in the partition as done. Pass the **next** offset to
    /// consume, i.e. `message.offset + 1`; this is the value a restarted member resumes from.
    /// The stored offset is committed by ``commitSync()``/``commitAsync()`` (or auto-commit).
    public func storeOffset(topic: String, partition: Int32, offset: Int64) throws(KafkaError) {
        try storeOffsets([TopicPartition(topic: topic, partition: partition): offset])
    }

    /// Batch form of ``storeOffset(topic:partition:offset:)``: one C call for all partitions.
    public func storeOffsets(_ nextOffsets: [TopicPartition: Int64]) throws(KafkaError) {
        guard !nextOffsets.isEmpty else { return }
        try TopicPartitionListC.with(nextOffsets.map { ($0.key, $0.value) }) { list throws(KafkaError) in
            let err = rd_kafka_offsets_store(handle, list)
            if let partitionError = TopicPartitionListC.firstError(list) { throw partitionError }
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err) }
        }
    }

    /// Commits all stored offsets and waits for the broker. Nothing stored is not an error.
    public func commitSync() throws(KafkaError) {
        let err = rd_kafka_commit(handle, nil, 0)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET else {
            throw KafkaError(err)
        }
    }

    /// Starts committing stored offsets; failures arrive at ``onError`` during a later poll.
    public func commitAsync() {
        let err = rd_kafka_commit(handle, nil, 1)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR, err != RD_KAFKA_RESP_ERR__NO_OFFSET {
            callbacks.report(KafkaError(err))
        }
    }

    /// Committed offsets from the group coordinator (blocking); `nil` where none is committed.
    public func committed(
        _ partitions: [TopicPartition],
        timeoutMilliseconds: Int32
    ) throws(KafkaError) -> [TopicPartition: Int64?] {
        try TopicPartitionListC.with(partitions) { list throws(KafkaError) in
            let err = rd_kafka_committed(handle, list, timeoutMilliseconds)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err) }
            return TopicPartitionListC.offsets(list)
        }
    }

    /// Next offset to be fetched (last consumed + 1), from local state; `nil` if unknown.
    public func position(_ partitions: [TopicPartition]) throws(KafkaError) -> [TopicPartition: Int64?] {
        try TopicPartitionListC.with(partitions) { list throws(KafkaError) in
            let err = rd_kafka_position(handle, list)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err) }
            return TopicPartitionListC.offsets(list)
        }
    }

    /// Messages behind the high watermark per assigned partition, from cached watermarks (no
    /// network round trip). Partitions whose position or watermark is not known yet are absent.
    public func lag() throws(KafkaError) -> [TopicPartition: Int64] {
        var result: [TopicPartition: Int64] = [:]
        for (partition, position) in try position(assignment()) {
            guard let position else { continue }
            var low: Int64 = 0
            var high: Int64 = 0
            let err = rd_kafka_get_watermark_offsets(handle, partition.topic, partition.partition, &low, &high)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { continue }
            result[partition] = max(0, high - position)
        }
        return result
    }

    /// One Metadata round trip to any broker: returns once a broker answered (brokers reachable),
    /// throws when none did within the timeout. Blocks the calling thread; serves no callbacks.
    public func probeBrokers(timeoutMilliseconds: Int32) throws(KafkaError) {
        try KafkaBrokerProbe.probe(handle, timeoutMilliseconds: timeoutMilliseconds)
    }

    // MARK: - Assignment and flow control

    public func assignment() throws(KafkaError) -> [TopicPartition] {
        var list: TopicPartitionListC.ListPointer?
        let err = rd_kafka_assignment(handle, &list)
        defer { if let list { rd_kafka_topic_partition_list_destroy(list) } }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err) }
        return list.map(TopicPartitionListC.partitions) ?? []
    }

    /// Stops fetching from `partitions` (back-pressure) while staying in the group.
    public func pause(_ partitions: [TopicPartition]) throws(KafkaError) {
        try TopicPartitionListC.with(partitions) { list throws(KafkaError) in
            let err = rd_kafka_pause_partitions(handle, list)
            if let partitionError = TopicPartitionListC.firstError(list) { throw partitionError }
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err) }
        }
    }

    public func resume(_ partitions: [TopicPartition]) throws(KafkaError) {
        try TopicPartitionListC.with(partitions) { list throws(KafkaError) in
            let err = rd_kafka_resume_partitions(handle, list)
            if let partitionError = TopicPartitionListC.firstError(list) { throw partitionError }
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err) }
        }
    }
}
