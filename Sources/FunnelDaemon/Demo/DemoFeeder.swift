import FunnelCore
import FunnelKafka
import Logging
import ServiceLifecycle

/// Produces the built-in simulator's clickstream to the demo's input topic at a fixed wall-clock
/// rate, until graceful shutdown.
///
/// The simulator emits in event-time order, so pacing the *count* of events by the wall clock
/// makes event time advance at whatever speed that rate implies. When its span runs out a new
/// simulator continues right after it (next seed, same user ids), so the demo can run for hours.
///
/// It starts only once `isConsumerReady` says the pipeline has its input partition. The embedded
/// cluster keeps about 5 MiB per partition, and joining the consumer group takes a few seconds:
/// fed from the start at 20,000 events/s, the cluster had dropped the first ~41,000 events before
/// the pipeline read any.
///
/// Runs on the cooperative pool without blocking it: produce calls never wait for queue space
/// (a full queue just ends the tick early, which is back-pressure) and polls use timeout 0.
final class DemoFeeder: Service, Sendable {
    private let producer: KafkaProducer
    private let topic: String
    private let eventsPerSecond: Double
    private let simulator: SimulatorConfig
    private let board: DemoBoard
    private let logger: Logger
    private let isConsumerReady: @Sendable () -> Bool
    private static let tick = Duration.milliseconds(20)

    init(bootstrapServers: String, topic: String, eventsPerSecond: Double, simulator: SimulatorConfig,
         board: DemoBoard, logger: Logger, isConsumerReady: @escaping @Sendable () -> Bool) throws {
        producer = try KafkaProducer(
            configuration: ["bootstrap.servers": bootstrapServers, "linger.ms": "5", "client.id": "funnelpulse-demo-feeder"],
            logger: logger, queueFullRetries: 0)
        self.topic = topic
        self.eventsPerSecond = eventsPerSecond
        self.simulator = simulator
        self.board = board
        self.logger = logger
        self.isConsumerReady = isConsumerReady
    }

    func run() async throws {
        while !isConsumerReady() {
            guard !Task.isShuttingDownGracefully, !Task.isCancelled else {
                logger.info("demo feeder stopped before the pipeline had its input", metadata: ["sent": "0"])
                return
            }
            try? await Task.sleep(for: Self.tick)
        }
        logger.info("demo feeder started", metadata: ["topic": "\(topic)", "rate": "\(eventsPerSecond)/s"])
        // Polled rather than cancelled on shutdown: the flush after the loop must still be able to wait.
        let sent = await feed()
        await drain(deadline: .now + .seconds(5))
        logger.info("demo feeder stopped", metadata: ["sent": "\(sent)"])
    }

    /// - Returns: how many events were handed to the producer.
    private func feed() async -> Int {
        var sent = 0
        var config = simulator
        var simulator = Simulator(config: config)
        var line: [UInt8] = []
        line.reserveCapacity(512)
        /// A line the producer refused for lack of queue space; sent before any new one.
        var pending = false
        let clock = ContinuousClock()
        let start = clock.now
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let elapsed = clock.now - start
            let seconds = elapsed.inSeconds
            let due = Int(seconds * eventsPerSecond)
            while sent < due {
                if !pending {
                    line.removeAll(keepingCapacity: true)
                    guard simulator.next(into: &line) else {
                        config = Self.nextRound(after: config)
                        simulator = Simulator(config: config)
                        board.update { $0.simulatorRounds += 1 }
                        continue
                    }
                    pending = true
                }
                if let error = send(line) {
                    // Queue full: the broker is behind; the line waits for the next tick.
                    if error.code == KafkaError.Code.queueFull { break }
                    // Anything else loses this line only: the feed is synthetic, not a ledger.
                    logger.warning("demo feeder could not produce", metadata: ["error": "\(error)"])
                    board.update { $0.produceErrors += 1 }
                }
                pending = false
                sent += 1
            }
            serviceDeliveries()
            try? await Task.sleep(for: Self.tick)
        }
        return sent
    }

    /// One produce call; the error comes back as a value because `withUnsafeBytes` does not
    /// carry typed throws through.
    private func send(_ line: [UInt8]) -> KafkaError? {
        line.withUnsafeBytes { value -> KafkaError? in
            do throws(KafkaError) {
                try producer.send(topic: topic, key: nil, value: value, token: 0)
                return nil
            } catch {
                return error
            }
        }
    }

    /// Polls delivery reports until nothing is outstanding or the deadline passes.
    private func drain(deadline: ContinuousClock.Instant) async {
        while producer.outstanding > 0, ContinuousClock.now < deadline {
            serviceDeliveries()
            do {
                try await Task.sleep(for: .milliseconds(10))
            } catch {
                break
            }
        }
        serviceDeliveries()
        if producer.outstanding > 0 {
            logger.warning("demo feeder stopped with undelivered events", metadata: ["outstanding": "\(producer.outstanding)"])
        }
    }

    private func serviceDeliveries() {
        producer.poll(timeoutMilliseconds: 0)
        var delivered = 0
        var failures = 0
        var lastError: KafkaError?
        producer.drainDeliveryReports { _, error in
            if let error {
                failures += 1
                lastError = error
            } else {
                delivered += 1
            }
        }
        if let lastError {
            logger.warning("demo events not delivered", metadata: ["count": "\(failures)", "error": "\(lastError)"])
        }
        guard delivered > 0 || failures > 0 else { return }
        board.update {
            $0.produced += delivered
            $0.produceErrors += failures
        }
    }

    /// The simulator configuration that continues where `config`'s span ended.
    static func nextRound(after config: SimulatorConfig) -> SimulatorConfig {
        var next = config
        next.start = config.start + max(1, config.duration)
        next.seed = config.seed &+ 1
        next.incidents = config.incidents.map { $0.shifted(by: max(1, config.duration)) }
        return next
    }
}
