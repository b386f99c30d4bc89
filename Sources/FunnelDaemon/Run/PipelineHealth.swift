import Synchronization

/// What `/readyz` reports about the pipeline, written by the pipeline thread once per batch and
/// read by the HTTP thread; a `Mutex` around a small value, so probes never touch Kafka.
public final class PipelineHealth: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var started = false
        public var stopping = false
        public var assignedPartitions = 0
        /// Messages behind the high watermark over all assigned partitions; nil until measured.
        public var totalLag: Int64?
        public var paused = false
        /// Why the pipeline stopped for good (undeliverable output, fatal client state).
        public var failure: String?
        /// The conversion model's live quality (nil while the model is off).
        public var model: ModelView?
        /// Events the engine has read so far.
        public var eventsRead = 0
        /// Clients (`consumer`, `producer`) for which librdkafka reported every broker down, with
        /// its reason; an entry goes once a broker answers that client again.
        public var brokersDown: [String: String] = [:]
    }

    /// The model's progressive quality over its recent window, from resolved predictions only.
    public struct ModelView: Sendable, Equatable {
        public var version: UInt64 = 0
        public var resolved = 0
        public var pending = 0
        public var auc: Double?
        public var logLoss: Double?
        public var meanScore: Double?
        public var positiveRate: Double?
    }

    private let state = Mutex(Snapshot())
    /// Ready only while the summed lag is at most this many messages.
    public let maxLag: Int64

    public init(maxLag: Int64) {
        self.maxLag = maxLag
    }

    public var snapshot: Snapshot { state.withLock { $0 } }

    func update(_ body: (inout Snapshot) -> Void) {
        state.withLock { body(&$0) }
    }

    /// librdkafka told `client` that all its brokers are down.
    func brokersDown(_ client: String, reason: String) {
        update { $0.brokersDown[client] = reason }
    }

    /// A broker answered `client` again.
    func brokersReachable(_ client: String) {
        update { $0.brokersDown[client] = nil }
    }

    /// Ready = brokers reachable, partitions assigned, caught up, not failed, not shutting down.
    public func readiness() -> (ready: Bool, reason: String) {
        let current = snapshot
        if let failure = current.failure { return (false, "failed: \(failure)") }
        if current.stopping { return (false, "shutting down") }
        if !current.started { return (false, "starting") }
        if let (client, reason) = current.brokersDown.min(by: { $0.key < $1.key }) {
            return (false, "kafka unreachable (\(client)): \(reason)")
        }
        if current.assignedPartitions == 0 { return (false, "no partitions assigned") }
        guard let lag = current.totalLag else { return (false, "consumer lag not known yet") }
        if lag > maxLag { return (false, "catching up: lag \(lag) > \(maxLag)") }
        return (true, "")
    }
}
