import Synchronization

/// What the demo has seen so far: the feeder's side (events acknowledged by the broker) and the
/// reader's side (records the daemon published on its output topics).
public struct DemoStats: Sendable {
    /// Input events the broker acknowledged.
    public var produced = 0
    /// Input events that could not be delivered (counted, never retried: it is a demo feed).
    public var produceErrors = 0
    /// How many times the simulator's span ran out and a fresh one was started after it.
    public var simulatorRounds = 0
    /// Records seen on all output topics.
    public var outputs = 0
    public var scores = 0
    public var histogram = ScoreHistogram()
    public var modelVersion: Int64?
    public var snapshots = 0
    /// Latest snapshot value per funnel, in the order funnels were first seen.
    public var latestSnapshots: [(funnel: String, json: [UInt8])] = []
    public var deadLetters = 0
    public var latestDeadLetter: String?
    public var alerts = 0
    /// Newest last; at most ``recentAlertLimit``.
    public var recentAlerts: [String] = []
    /// Output records the view could not decode (shown, so a format change does not go unnoticed).
    public var unreadable = 0

    static let recentAlertLimit = 5

    public init() {}

    mutating func recordSnapshot(funnel: String, json: [UInt8]) {
        snapshots += 1
        if let index = latestSnapshots.firstIndex(where: { $0.funnel == funnel }) {
            latestSnapshots[index].json = json
        } else {
            latestSnapshots.append((funnel, json))
        }
    }

    /// Adds what the reader collected since its last publish (the reader's counters only).
    mutating func merge(_ batch: DemoStats) {
        outputs += batch.outputs
        scores += batch.scores
        histogram.merge(batch.histogram)
        if let version = batch.modelVersion { modelVersion = version }
        for latest in batch.latestSnapshots {
            if let index = latestSnapshots.firstIndex(where: { $0.funnel == latest.funnel }) {
                latestSnapshots[index].json = latest.json
            } else {
                latestSnapshots.append(latest)
            }
        }
        snapshots += batch.snapshots
        recentAlerts = Array((recentAlerts + batch.recentAlerts).suffix(Self.recentAlertLimit))
        alerts += batch.alerts
        deadLetters += batch.deadLetters
        if let deadLetter = batch.latestDeadLetter { latestDeadLetter = deadLetter }
        unreadable += batch.unreadable
    }

    mutating func recordAlert(_ text: String) {
        alerts += 1
        recentAlerts.append(text)
        if recentAlerts.count > Self.recentAlertLimit { recentAlerts.removeFirst() }
    }
}

/// The one place feeder, reader and display meet. Writers publish batched deltas (not one lock per
/// record), the display takes a copy once a second.
final class DemoBoard: Sendable {
    private let state = Mutex(DemoStats())

    var stats: DemoStats { state.withLock { $0 } }

    func update(_ body: (inout DemoStats) -> Void) {
        state.withLock { body(&$0) }
    }
}
