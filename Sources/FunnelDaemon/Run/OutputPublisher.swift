import FunnelCore
import FunnelKafka
import Logging

/// Sends output records to Kafka and turns delivery reports into commit progress.
///
/// Every record gets a slot in the ``OutputLedger`` and a token that comes back with its delivery
/// report. A failed delivery is re-sent with the same bytes, with exponential backoff, up to
/// ``Settings/retries`` times; after that the publisher is failed and the pipeline stops without
/// committing past the lost record. The bytes of a record in flight are librdkafka's copy only:
/// a failed delivery report hands them back (``KafkaDeliveryReport``), and a send refused on the
/// spot still has the caller's, so only records awaiting a re-send are kept here. (Keeping a copy
/// of every record until its acknowledgement cost the pipeline thread about a tenth of its time.)
/// Confined to the pipeline thread.
final class OutputPublisher {
    struct Settings {
        /// Pause fetching at this many un-acked outputs; block the producing thread at twice it.
        var maxInFlight: Int
        var retries: Int
        var retryBackoff: Duration
    }

    /// Output topic indexes, in the order of ``topics``.
    enum Kind: Int, CaseIterable {
        case scores = 0
        case funnel = 1
        case deadLetter = 2
        case alerts = 3

        /// The `schema` header of the kind's records.
        var schema: String {
            switch self {
            case .scores: ScoreRecord.schema
            case .funnel: OutputRecords.funnelSnapshotSchema
            case .deadLetter: OutputRecords.deadLetterSchema
            case .alerts: AlertRecord.schema
            }
        }
    }

    let producer: KafkaProducer
    let topics: [String]
    let settings: Settings
    // `@exclusivity(unchecked)` on the state touched per record: the publisher is confined to the
    // pipeline thread and never re-enters these while mutating them, and the runtime's dynamic
    // check of every access to a class's stored property took 2-3 % of that thread.
    @exclusivity(unchecked) var ledger = OutputLedger()
    /// Set once a record is given up on, or the producer reports a fatal state.
    private(set) var failure: KafkaError?
    /// Per topic index, since the last ``takeCounts()``.
    @exclusivity(unchecked) private var delivered: [Int]
    @exclusivity(unchecked) private var failed: [Int]
    @exclusivity(unchecked) private var retried: [Int]
    private var retryQueue: [(token: UInt64, due: ContinuousClock.Instant)] = []
    /// The bytes of the records awaiting a re-send, by token.
    private var retained: [UInt64: Retained] = [:]
    struct Retained {
        var key: [UInt8]?
        var value: [UInt8]
    }
    /// Per topic index: its producer handle (resolved on first send) and `schema` header value.
    @exclusivity(unchecked) private var topicHandles: [KafkaTopic?]
    private let schemaValues: [[UInt8]]
    /// The `model-version` header value of the record being sent, reused.
    @exclusivity(unchecked) private var versionText = JSONBuffer(capacity: 24)
    private let logger: Logger
    private let clock = ContinuousClock()
    /// Asked while blocked on a full in-flight window: true means give up waiting (shutdown).
    var shouldAbandonWaiting: () -> Bool = { false }

    init(producer: KafkaProducer, topics: [String], settings: Settings, logger: Logger) {
        self.producer = producer
        self.topics = topics
        self.settings = settings
        self.logger = logger
        delivered = Array(repeating: 0, count: topics.count)
        failed = delivered
        retried = delivered
        topicHandles = Array(repeating: nil, count: topics.count)
        schemaValues = topics.indices.map { Array((Kind(rawValue: $0)?.schema ?? "").utf8) }
    }

    var unacked: Int { ledger.unacked }

    // MARK: - Sending

    /// Registers the record in the ledger, sends it, and blocks (serving delivery reports) while
    /// twice the in-flight limit is outstanding, so memory stays bounded inside a large batch.
    /// Every record carries a `schema` header (its kind's) and a `model-version` header.
    func publish(_ kind: Kind, key: UnsafeRawBufferPointer?, value: [UInt8], modelVersion: UInt64) {
        let token = ledger.addOutput(topicIndex: kind.rawValue, modelVersion: modelVersion)
        value.withUnsafeBytes { send(token, key: key, value: $0) }
        if ledger.unacked >= 2 * settings.maxInFlight { waitForRoom() }
    }

    private func topic(_ index: Int) -> Result<KafkaTopic, KafkaError> {
        if let handle = topicHandles[index] { return .success(handle) }
        do {
            let handle = try producer.topic(topics[index])
            topicHandles[index] = handle
            return .success(handle)
        } catch {
            return .failure(error)
        }
    }

    /// Sends (or re-sends) the ledger's record `token` with these bytes; librdkafka copies them.
    /// Its headers point at reused buffers and the stack, so a record costs the Swift side no
    /// allocation. The version is spelled by the same ``JSONBuffer/int(_:)`` that writes a score
    /// record's `model_version`. A send refused on the spot keeps a copy for its re-send.
    private func send(_ token: UInt64, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer) {
        guard let (topicIndex, version) = ledger.withPending(token, { ($0.topicIndex, $0.modelVersion) }) else { return }
        let topic: KafkaTopic
        switch self.topic(topicIndex) {
        case .success(let handle): topic = handle
        case .failure(let error):
            deliveryFailed(token, error, returned: Retained(key: key.map { Array($0) }, value: Array(value)))
            return
        }
        versionText.reset()
        versionText.int(version)
        let error = withUnsafeTemporaryAllocation(of: KafkaHeaderView.self, capacity: 2) { headers -> KafkaError? in
            schemaValues[topicIndex].withUnsafeBytes { schema -> KafkaError? in
                versionText.bytes.withUnsafeBytes { versionBytes -> KafkaError? in
                    // Trivial values: nothing to deinitialise.
                    headers.initializeElement(at: 0, to: KafkaHeaderView(name: "schema", value: schema))
                    headers.initializeElement(at: 1, to: KafkaHeaderView(name: "model-version", value: versionBytes))
                    // Generic catch + cast: a typed catch here crashes Swift 6.3.1's SILGen.
                    do {
                        try producer.send(topic: topic, key: key, value: value, headers: UnsafeBufferPointer(headers),
                                          token: token)
                        return nil
                    } catch {
                        return (error as? KafkaError) ?? KafkaError(
                            code: KafkaError.Code.invalidArgument, name: "SEND", message: "\(error)")
                    }
                }
            }
        }
        if let error {
            // A re-send refused again already has its bytes kept.
            let returned = retained[token] == nil ? Retained(key: key.map { Array($0) }, value: Array(value)) : nil
            deliveryFailed(token, error, returned: returned)
        }
    }

    /// The ledger forgets the record (acknowledged, or given up on after a revoke), and so do we.
    @discardableResult
    private func acknowledge(_ token: UInt64) -> Int? {
        if !retained.isEmpty { retained[token] = nil }
        return ledger.acknowledge(token)
    }

    private func waitForRoom() {
        while ledger.unacked >= 2 * settings.maxInFlight, failure == nil, !shouldAbandonWaiting() {
            service(timeoutMilliseconds: 10)
        }
    }

    // MARK: - Delivery reports

    /// Polls the producer, handles every delivery report, re-sends retries that are due.
    func service(timeoutMilliseconds: Int32) {
        producer.poll(timeoutMilliseconds: timeoutMilliseconds)
        handleReports()
        sendDueRetries()
        if failure == nil, let fatal = producer.fatalState() {
            fail(fatal, reason: "the producer is in a fatal state")
        }
    }

    /// Waits up to `timeout` for every output to be acknowledged (retries included).
    /// - Returns: whether nothing is left un-acked.
    @discardableResult
    func drain(within timeout: Duration) -> Bool {
        let deadline = clock.now + timeout
        while ledger.unacked > 0, failure == nil, clock.now < deadline {
            let left = deadline - clock.now
            let millis = max(1, min(100, left.inMilliseconds))
            do {
                try producer.flush(timeoutMilliseconds: Int32(millis))
            } catch {
                // Still outstanding: keep serving reports until the deadline.
            }
            handleReports()
            sendDueRetries()
        }
        return ledger.unacked == 0
    }

    private func handleReports() {
        producer.drainDeliveries { report in
            if let error = report.error {
                deliveryFailed(report.token, error,
                               returned: report.failedValue.map { Retained(key: report.failedKey, value: $0) })
            } else if let topic = acknowledge(report.token) {
                delivered[topic] += 1
            }
        }
    }

    /// `returned`: the record's bytes, as the failed report or refused send gave them back.
    private func deliveryFailed(_ token: UInt64, _ error: KafkaError, returned: Retained?) {
        guard let (topic, attempts) = ledger.withPending(token, { ($0.topicIndex, $0.attempts) }) else { return }
        failed[topic] += 1
        guard ledger.isCurrent(token) else {
            // Its partition was revoked: the next owner reprocesses the input; don't duplicate.
            acknowledge(token)
            return
        }
        guard attempts <= settings.retries, !error.isFatal else {
            fail(error.with(topic: topics[topic]), reason: "output record could not be delivered after \(attempts) attempts")
            return
        }
        if let returned { retained[token] = returned }
        guard retained[token] != nil else {
            fail(error.with(topic: topics[topic]),
                 reason: "a failed output record came back without its bytes, so it cannot be re-sent")
            return
        }
        ledger.withPending(token) { $0.attempts += 1 }
        retried[topic] += 1
        let backoff = settings.retryBackoff * (1 << min(attempts - 1, 10))
        retryQueue.append((token, clock.now + backoff))
        logger.warning(
            "output delivery failed; will retry",
            metadata: ["topic": "\(topics[topic])", "attempt": "\(attempts)", "error": "\(error)"])
    }

    private func sendDueRetries() {
        guard !retryQueue.isEmpty, failure == nil else { return }
        let now = clock.now
        var due: [UInt64] = []
        retryQueue.removeAll { item in
            guard item.due <= now else { return false }
            due.append(item.token)
            return true
        }
        for token in due {
            guard ledger.isCurrent(token) else {
                acknowledge(token)
                continue
            }
            guard let record = retained[token] else {
                // deliveryFailed keeps the bytes of every record it queues; never drop one quietly.
                fail(KafkaError(code: KafkaError.Code.invalidArgument, name: "RETRY",
                                message: "output record \(token) is due for a re-send but its bytes are gone"),
                     reason: "an output record could not be re-sent")
                continue
            }
            // Kept until acknowledged: a re-send refused on the spot is retried from it again.
            record.value.withUnsafeBytes { value in
                if let key = record.key {
                    key.withUnsafeBytes { send(token, key: $0, value: value) }
                } else {
                    send(token, key: nil, value: value)
                }
            }
        }
    }

    private func fail(_ error: KafkaError, reason: String) {
        guard failure == nil else { return }
        failure = error
        logger.critical("\(reason); stopping without committing past it", metadata: ["error": "\(error)"])
    }

    // MARK: - Progress

    /// Delivered, failed and retried counts per topic since the last call.
    func takeCounts() -> (delivered: [Int], failed: [Int], retried: [Int]) {
        defer {
            for index in topics.indices {
                delivered[index] = 0
                failed[index] = 0
                retried[index] = 0
            }
        }
        return (delivered, failed, retried)
    }
}
