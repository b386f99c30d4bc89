import Foundation
import FunnelKafka
import Logging
import ServiceLifecycle
import Synchronization

/// Reads what the daemon published (scores, funnel snapshots, alerts, dead letters) with its own
/// consumer group and folds it into the ``DemoBoard``.
///
/// The view is built from the output topics on purpose: it shows exactly what a downstream
/// consumer (or `kcat`) would see, so the demo checks the whole Kafka-in → engine → Kafka-out path.
///
/// The consumer runs on a dedicated thread (its polls block), like the pipeline's. On graceful
/// shutdown — which reaches this service only after the pipeline has flushed and committed,
/// because services stop in reverse start order — it keeps reading until it has caught up, so the
/// final numbers include the last outputs. `@unchecked Sendable`: the consumer is only touched by
/// that thread; other threads only set the atomic stop flag.
final class DemoReader: Service, @unchecked Sendable {
    struct Topics: Sendable {
        var scores: String
        var funnel: String
        var alerts: String
        var deadLetter: String
        var all: [String] { [scores, funnel, alerts, deadLetter] }
    }

    private let consumer: KafkaConsumer
    private let topics: Topics
    private let board: DemoBoard
    private let logger: Logger
    private let stopRequested = Atomic<Bool>(false)
    /// Used on the reader thread only.
    private let decoder = JSONDecoder()
    /// How long the reader may spend catching up after the stop request.
    private let catchUpLimit = Duration.seconds(3)

    init(bootstrapServers: String, topics: Topics, board: DemoBoard, logger: Logger) throws {
        consumer = try KafkaConsumer(configuration: Self.consumerSettings(bootstrapServers: bootstrapServers),
                                     logger: logger)
        consumer.startOffset = Self.fromFirstRecordOnce()
        self.topics = topics
        self.board = board
        self.logger = logger
    }

    static func consumerSettings(bootstrapServers: String) -> [String: String] {
        [
            "bootstrap.servers": bootstrapServers,
            "group.id": "funnelpulse-demo-view",
            "client.id": "funnelpulse-demo-view",
            // Only for a position that has fallen out of the log (see `fromFirstRecordOnce`):
            // skip to the newest outputs rather than chase the oldest.
            "auto.offset.reset": "latest",
            "enable.auto.commit": "false",
            // Mock-cluster friendly group timings (first join ~3 s instead of half of 45 s).
            "session.timeout.ms": "6000",
            "heartbeat.interval.ms": "1000",
            "partition.assignment.strategy": "range",
            "topic.metadata.refresh.interval.ms": "1000",
        ]
    }

    /// Reads each output partition from its first record, once. A view that falls behind loses its
    /// place when the mock cluster drops the oldest records (it keeps about 5 MiB per partition).
    /// "earliest" would then send it to the log start librdkafka last heard of, which the cluster
    /// has moved on by the time of the next fetch, for as long as outputs keep coming: the view
    /// would read nothing more. "latest" skips the gap instead, and librdkafka logs the reset.
    static func fromFirstRecordOnce() -> (TopicPartition) -> Int64? {
        var started = Set<TopicPartition>()
        return { partition in started.insert(partition).inserted ? KafkaOffset.beginning : nil }
    }

    func run() async throws {
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await runOnThread()
            } onGracefulShutdown: {
                self.requestStop()
            }
        } onCancel: {
            self.requestStop()
        }
    }

    func requestStop() {
        stopRequested.store(true, ordering: .releasing)
    }

    private func runOnThread() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread { [self] in
                ThreadName.setCurrent("fp-demo-view")
                do {
                    try readLoop()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "funnelpulse-demo-view"
            thread.start()
        }
    }

    // MARK: - Reader thread

    private func readLoop() throws {
        try consumer.subscribe(topics: topics.all)
        var pending = DemoStats()
        var stopDeadline: ContinuousClock.Instant?
        var quietPolls = 0
        while true {
            let count = try consumer.pollBatch(maxMessages: 2000, timeoutMilliseconds: 100) { message in
                absorb(message, into: &pending)
            }
            publish(&pending)
            if stopDeadline == nil, stopRequested.load(ordering: .acquiring) {
                stopDeadline = .now + catchUpLimit
            }
            guard let deadline = stopDeadline else { continue }
            quietPolls = count == 0 ? quietPolls + 1 : 0
            if ContinuousClock.now >= deadline || (quietPolls >= 2 && caughtUp()) { break }
        }
        do {
            try consumer.close()
        } catch {
            logger.warning("demo view consumer did not close cleanly", metadata: ["error": "\(error)"])
        }
    }

    private func caughtUp() -> Bool {
        guard let lag = try? consumer.lag(), !lag.isEmpty else { return false }
        return lag.values.allSatisfy { $0 == 0 }
    }

    /// Folds one output record into `pending`; decoding failures are counted, never fatal.
    private func absorb(_ message: KafkaMessageView, into pending: inout DemoStats) {
        pending.outputs += 1
        guard let payload = message.payload else {
            pending.unreadable += 1
            return
        }
        let bytes = Array(payload)
        switch message.topic {
        case topics.scores:
            do {
                let score = try decoder.decode(DemoScore.self, from: Data(bytes))
                pending.scores += 1
                pending.histogram.add(score.score)
                if let version = score.modelVersion { pending.modelVersion = version }
            } catch {
                pending.unreadable += 1
            }
        case topics.funnel:
            let funnel = message.key.map { String(decoding: $0, as: UTF8.self) } ?? "?"
            pending.recordSnapshot(funnel: funnel, json: bytes)
        case topics.alerts:
            if let alert = try? decoder.decode(DemoAlert.self, from: Data(bytes)) {
                pending.recordAlert(alert.line)
            } else {
                pending.unreadable += 1
            }
        case topics.deadLetter:
            pending.deadLetters += 1
            pending.latestDeadLetter = String(decoding: bytes, as: UTF8.self)
        default:
            break
        }
    }

    /// Merges the batch's counts into the board under one lock, then starts a fresh batch.
    private func publish(_ pending: inout DemoStats) {
        guard pending.outputs > 0 else { return }
        let batch = pending
        pending = DemoStats()
        board.update { $0.merge(batch) }
    }
}
