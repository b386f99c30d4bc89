/// Where a record came from: a file and line, or a topic-partition and offset.
public struct SourcePosition: Sendable, Equatable {
    /// Index of the file or topic-partition in the driver's table.
    public var source: Int32
    /// Line number (1-based) or Kafka offset.
    public var offset: Int64

    public init(source: Int32, offset: Int64) {
        self.source = source
        self.offset = offset
    }
}

/// Facts about one accepted event that exist only at the moment it is applied.
public struct EventContext: Sendable {
    public var userSlot: Int
    public var isNewUser: Bool
    public var isNewSession: Bool
    /// Microseconds since the user's previous event (0 for a new user).
    public var sincePrevious: Int64
    public var itemViewedBefore: Bool
    public var itemCartedBefore: Bool
}

/// Receives everything the engine produces. Generic (not an existential) so calls inline.
public protocol EngineSink {
    mutating func deadLetter(_ failure: DecodeFailure, record: UnsafeRawBufferPointer, position: SourcePosition)
    /// Whether the engine calls `accepted` for every accepted event. Sinks that only publish the
    /// engine's outputs leave it false: the call's arguments (the event and the engine, several
    /// kilobytes) would otherwise be copied for every event.
    var observesAccepted: Bool { get }
    /// Every accepted event with its context, once it is in the user's state (only while
    /// `observesAccepted` is true).
    mutating func accepted(_ event: Event, context: EventContext, engine: borrowing Engine,
                           record: UnsafeRawBufferPointer, position: SourcePosition)
    mutating func snapshot(_ snapshot: FunnelSnapshot)
    /// A live conversion score for `event` (every accepted non-purchase event while the model is on).
    mutating func score(_ score: ModelScore, event: Event, record: UnsafeRawBufferPointer, position: SourcePosition)
    /// An alert or signal (funnel drop, fraud rule, cart abandonment) while `alerts.enabled` is true.
    mutating func alert(_ alert: Alert)
}

extension EngineSink {
    public var observesAccepted: Bool { false }

    public mutating func accepted(_ event: Event, context: EventContext, engine: borrowing Engine,
                                  record: UnsafeRawBufferPointer, position: SourcePosition) {}

    /// Sinks that do not publish scores need not implement this.
    public mutating func score(_ score: ModelScore, event: Event, record: UnsafeRawBufferPointer,
                               position: SourcePosition) {}

    /// Sinks that do not publish alerts need not implement this.
    public mutating func alert(_ alert: Alert) {}
}

/// Counters a run reports (summary.json, /metrics).
public struct EngineStats: Sendable, Equatable {
    public var read = 0
    public var accepted = 0
    public var duplicates = 0
    public var skipped = 0
    public var rejected = [Int](repeating: 0, count: DeadLetterReason.allCases.count)
    public var rejectedTotal: Int { rejected.reduce(0, +) }

    public init() {}
}

/// The FunnelPulse engine: event time, per-user windows and funnels. No I/O, no wall clock.
public struct Engine: Sendable {
    public let config: EngineConfig
    public internal(set) var users: UserStore
    public private(set) var funnels: FunnelTracker
    public private(set) var stats = EngineStats()
    private var dedupe: Deduplicator
    private let latenessMicros: Int64
    private let ttlMicros: Int64
    let sessionGapMicros: Int64
    /// Bucket width per feature window, seconds.
    let bucketSeconds: [UInt32]
    /// Largest event time accepted so far (µs); `.min` before the first event.
    public private(set) var maxEventTime: Int64 = .min
    /// Event-time progress per source and the watermark derived from it.
    public private(set) var sources: SourceWatermarks
    /// The online conversion model (nil when `model.enabled` is false).
    public internal(set) var model: ConversionModel?
    /// Funnel, fraud and cart-abandonment detectors (nil when `alerts.enabled` is false).
    public internal(set) var alerts: AlertEngine?
    /// Keyed pseudonyms for user ids in outputs (`privacy.pseudonymize_user_ids`); nil: raw ids.
    /// Sinks read it for score records; alerts get it through ``setUserPseudonymizer(_:)``.
    /// Not part of a checkpoint: set it again after restoring one.
    public var userPseudonymizer: UserPseudonymizer? { pseudonymizerSlot.value }
    private var pseudonymizerSlot = UserPseudonymizerSlot()
    /// What partition handovers moved in and out (``exportPartition(source:)``).
    public internal(set) var handover = HandoverStats()

    /// Address space reserved for the user slab up front without a memory limit.
    static let slabReserveLimit = 1 << 30

    public init(config: EngineConfig) throws(ConfigError) {
        try config.validate()
        self.config = config
        users = UserStore(capacity: config.effectiveMaxUsers)
        // The slab is reserved at its final size up front under a memory limit, and whenever that
        // is at most 1 GiB of address space: pages are only touched as users arrive, and the slab
        // is never copied (nor held twice) while growing. Larger caps grow it by quarters.
        if config.memoryLimitMB != nil || config.effectiveMaxUsers * UserStore.recordBytes <= Self.slabReserveLimit {
            users.reserveRecords(config.effectiveMaxUsers)
        }
        funnels = FunnelTracker(config: config)
        dedupe = Deduplicator(spanSeconds: config.dedupeWindowSeconds, capacity: config.dedupeCapacity)
        latenessMicros = Int64(config.allowedLatenessSeconds * 1_000_000)
        sources = SourceWatermarks(lateness: latenessMicros)
        ttlMicros = Int64(config.userTTLSeconds) * 1_000_000
        sessionGapMicros = Int64(config.sessionGapSeconds) * 1_000_000
        bucketSeconds = config.windowSeconds.map { UInt32(max(1, $0 / UserRecord.buckets)) }
        if config.model.enabled {
            model = ConversionModel(config: config.model, windowSeconds: config.windowSeconds,
                                    funnel: config.funnels.first ?? .default)
        }
        if config.alerts.enabled { alerts = AlertEngine(config: config.alerts, engine: config) }
    }

    /// Replaces user ids with keyed pseudonyms in what the engine emits (alert entities, ids and
    /// messages) and tells sinks to do the same (``userPseudonymizer``). nil restores raw ids.
    public mutating func setUserPseudonymizer(_ pseudonymizer: UserPseudonymizer?) {
        pseudonymizerSlot = UserPseudonymizerSlot(pseudonymizer)
        alerts?.setUserPseudonymizer(pseudonymizer)
    }

    /// Watermark: the event time up to which the engine has applied everything (windows, expiries,
    /// labels). Min over the active sources of their max event time − allowed lateness.
    public var watermark: Int64 { sources.watermark }

    /// Drivers mark a source idle when it has nothing more for now (a caught-up partition, an
    /// exhausted file) so it stops holding the watermark back; its next event reactivates it.
    public mutating func setSourceIdle(_ source: Int32, _ idle: Bool) {
        guard source >= 0 else { return }
        sources.setIdle(Int(source), idle)
    }

    /// Declares a source before its first event (an assigned partition, an opened file): the
    /// watermark waits for it until it delivers an event or is marked idle.
    public mutating func registerSource(_ source: Int32) { setSourceIdle(source, false) }

    // MARK: - Input

    /// Decodes and applies one record.
    @inline(__always)
    public mutating func process<S: EngineSink>(
        _ record: UnsafeRawBufferPointer, decoder: inout RecordDecoder, at position: SourcePosition, sink: inout S
    ) {
        var event = Event()
        let status = decoder.decode(record, into: &event)
        handle(status, &event, record: record, position: position, requestMemory: true, sink: &sink)
    }

    /// Counts a decode status and applies its event. `requestMemory`: whether `apply` starts
    /// loading the event's hash-table slots itself (false when a batch pass already has).
    @inline(__always)
    private mutating func handle<S: EngineSink>(
        _ status: DecodeStatus, _ event: inout Event, record: UnsafeRawBufferPointer, position: SourcePosition,
        requestMemory: Bool, sink: inout S
    ) {
        switch status {
        case .skipped:
            stats.skipped += 1
        case .rejected(let failure):
            stats.read += 1
            reject(failure, record: record, position: position, sink: &sink)
        case .event:
            stats.read += 1
            apply(&event, record: record, position: position, requestMemory: requestMemory, sink: &sink)
        }
    }

    /// Processes a batch of records, in order, with the same outputs as `process` on each; then
    /// empties the batch. Three passes over the batch: decode, and request each event's dedupe and
    /// user-index slots; request each user's record once its index entry has arrived; apply.
    /// Each pass gives the previous one's memory loads the whole batch's work to arrive in.
    public mutating func process<S: EngineSink>(_ batch: inout EngineBatch, decoder: inout RecordDecoder,
                                                sink: inout S) {
        let count = batch.count
        for i in 0..<count { decode(&batch, at: i, decoder: &decoder) }
        requestRecords(for: batch)
        for i in 0..<count { applyStaged(&batch, at: i, sink: &sink) }
        batch.removeAll()
    }

    /// Pass 1 for one record of a batch: decode it in place, request its dedupe and user-index slots.
    @inline(__always)
    private func decode(_ batch: inout EngineBatch, at i: Int, decoder: inout RecordDecoder) {
        batch.events[i] = Event()
        batch.statuses[i] = decoder.decode(batch.records[i], into: &batch.events[i])
        if case .event = batch.statuses[i] {
            let key = batch.events[i].eventKey
            if key != 0 { dedupe.prefetch(key) }
            users.prefetch(batch.events[i].userKey)
        }
    }

    // MARK: - Staged batches (drivers that receive records one at a time)

    /// Adds `record` to `batch` and runs the first batch pass on it (decode with `decoder`, request
    /// its hash-table slots). For drivers whose records arrive one by one, each with its own
    /// decoder (a Kafka poll over topics with different mappings); ``requestRecords(for:)`` and
    /// ``applyStaged(_:at:sink:)`` do the rest. The batch must not be full.
    @inline(__always)
    public func stage(_ record: UnsafeRawBufferPointer, at position: SourcePosition,
                      decoder: inout RecordDecoder, into batch: inout EngineBatch) {
        batch.append(record, at: position)
        decode(&batch, at: batch.count - 1, decoder: &decoder)
    }

    /// Adds a record the driver itself rejects (e.g. a Kafka tombstone): when applied, it is
    /// counted as read and dead-lettered with `failure`, in its place in the order.
    public func stage(rejecting failure: DecodeFailure, record: UnsafeRawBufferPointer, at position: SourcePosition,
                      into batch: inout EngineBatch) {
        batch.append(record, at: position)
        let i = batch.count - 1
        batch.events[i] = Event()
        batch.statuses[i] = .rejected(failure)
    }

    /// Pass 2: requests each staged event's user record (its index entry has had pass 1's work to arrive).
    public func requestRecords(for batch: borrowing EngineBatch) {
        for i in 0..<batch.count {
            if case .event = batch.statuses[i] { users.prefetchRecord(batch.events[i].userKey) }
        }
    }

    /// Pass 3 for record `i`: applies it exactly as ``process(_:decoder:at:sink:)`` would have.
    /// Call for every staged record in order, then ``EngineBatch/removeAll()``.
    @inline(__always)
    public mutating func applyStaged<S: EngineSink>(_ batch: inout EngineBatch, at i: Int, sink: inout S) {
        handle(batch.statuses[i], &batch.events[i], record: batch.records[i], position: batch.positions[i],
               requestMemory: false, sink: &sink)
    }

    /// Applies a decode outcome (drivers that decode themselves, e.g. per-topic decoders).
    public mutating func ingest<S: EngineSink>(
        _ outcome: DecodeOutcome, record: UnsafeRawBufferPointer, at position: SourcePosition, sink: inout S
    ) {
        switch outcome {
        case .skipped:
            stats.skipped += 1
        case .rejected(let failure):
            stats.read += 1
            reject(failure, record: record, position: position, sink: &sink)
        case .event(var event):
            stats.read += 1
            apply(&event, record: record, position: position, requestMemory: true, sink: &sink)
        }
    }

    /// A record the driver itself could not use (e.g. a Kafka tombstone); counted like any rejection.
    public mutating func reject<S: EngineSink>(
        _ failure: DecodeFailure, record: UnsafeRawBufferPointer, position: SourcePosition, sink: inout S
    ) {
        stats.rejected[Int(failure.reason.rawValue)] += 1
        sink.deadLetter(failure, record: record, position: position)
    }

    /// Counts a record read by the driver before rejecting it (used with `reject` for wire-level problems).
    public mutating func countRead() { stats.read += 1 }

    /// `event` is `inout` only so the 250-byte value is passed by address, never copied; it is
    /// not modified.
    private mutating func apply<S: EngineSink>(
        _ event: inout Event, record: UnsafeRawBufferPointer, position: SourcePosition, requestMemory: Bool,
        sink: inout S
    ) {
        // The event's hash-table probes (dedupe, user index, the next funnel attempt) miss the
        // cache independently: start all three loads now so the misses overlap. (A batch has
        // requested the first two, and the user's record, in its earlier passes.)
        if requestMemory {
            if event.eventKey != 0 { dedupe.prefetch(event.eventKey) }
            users.prefetch(event.userKey)
        }
        funnels.prefetchNext()
        let source = Int(max(position.source, 0))
        if sources.isLate(event.timestamp, source: source) {
            reject(DecodeFailure(.late, "event time is behind the watermark (allowed lateness exceeded)"),
                   record: record, position: position, sink: &sink)
            return
        }
        let eventKey = event.eventKey
        let streamTime = max(maxEventTime, event.timestamp)
        if eventKey != 0 && dedupe.isEnabled && dedupe.isDuplicate(eventKey, streamTime: streamTime) {
            stats.duplicates += 1
            return
        }
        // The index entry has arrived meanwhile: start loading the user's record, which the
        // label steps below (learning, with the model on) give time to arrive.
        if requestMemory { users.prefetchRecord(event.userKey) }
        stats.accepted += 1
        if event.timestamp > maxEventTime { maxEventTime = event.timestamp }
        sources.observe(event.timestamp, source: source)

        // Model protocol (docs/model.md): (1) the watermark resolves negatives, (2) a purchase
        // resolves its user's positives, (3) the event joins the user's state, (4) other events
        // are scored from that state and frozen until their label resolves.
        if model != nil {
            let wm = watermark
            if wm != .min { model?.advance(watermark: wm) }
            if event.type == .purchase { model?.purchase(user: event.userKey, category: event.categoryKey, at: event.timestamp) }
        }
        let context = updateUser(event, source: Int32(source))
        if event.type != .purchase, model != nil {
            let user = users[context.userSlot]
            if let score = model?.score(event, context: context, user: user) {
                sink.score(score, event: event, record: record, position: position)
                if alerts != nil {
                    alerts?.scored(score.probability, event: event, user: user) { sink.alert($0) }
                }
            }
        }
        if alerts != nil {
            alerts?.observe(event, context: context, user: users[context.userSlot], record: record) { sink.alert($0) }
        }
        if sink.observesAccepted {
            sink.accepted(event, context: context, engine: self, record: record, position: position)
        }

        let dims = funnels.dimensionSlots(for: event, record: record)
        funnels.add(time: event.timestamp, userKey: event.userKey, type: event.type, dims: dims)
        let wm = watermark
        guard wm != .min else { return }
        if alerts == nil {
            funnels.advance(to: wm) { sink.snapshot($0) }
        } else {
            var closed: [FunnelSnapshot] = []
            funnels.advance(to: wm) { closed.append($0) }
            publish(closed, sink: &sink)
            while let due = alerts?.popDueCart(wm) {
                let record = users.slot(of: due.user).map { users[$0] }
                alerts?.cartDue(user: due.user, record: record, watermark: wm) { sink.alert($0) }
            }
        }
        // Amortised idle eviction: a few users per event keeps the pause bounded.
        users.evictIdle(before: wm &- ttlMicros, limit: 4)
    }

    /// Snapshots first, then the alerts judged on them.
    private mutating func publish<S: EngineSink>(_ snapshots: [FunnelSnapshot], sink: inout S) {
        for snapshot in snapshots {
            sink.snapshot(snapshot)
            alerts?.windowClosed(snapshot) { sink.alert($0) }
        }
    }

    /// End of a bounded input: releases buffered events and emits the open window as partial.
    public mutating func finish<S: EngineSink>(sink: inout S) {
        guard maxEventTime != .min else { return }
        model?.finish()
        var closed: [FunnelSnapshot] = []
        funnels.finish(maxEventTime: maxEventTime) { closed.append($0) }
        publish(closed, sink: &sink)
    }

    public var dedupeEarlyRotations: Int { dedupe.earlyRotations }

    // MARK: - Partition handover (the parts that touch this file's private state)

    mutating func handOverFunnels(users: Set<UInt64>) -> FunnelTracker.Handed { funnels.handOver(users: users) }

    mutating func takeOverFunnels(_ handed: FunnelTracker.Handed, keep: (UInt64) -> Bool) -> Int {
        funnels.takeOver(handed, keep: keep)
    }

    /// A handed-over partition's progress: events behind it are late here as they were there.
    mutating func takeOverSourceProgress(_ maxTime: Int64, source: Int32) {
        guard source >= 0, maxTime != .min else { return }
        sources.takeOver(maxTime: maxTime, source: Int(source))
    }

    // MARK: - Model state

    /// The model's learned state (docs/model-format.md); nil when the model is off.
    public func saveModel() -> [UInt8]? { model?.save() }

    /// Loads a saved model; refuses one built for another feature configuration.
    public mutating func loadModel(_ bytes: [UInt8]) throws(ModelError) {
        guard model != nil else { throw ModelError("the model is disabled in the configuration (engine.model.enabled)") }
        try model?.load(bytes)
    }
}

extension UserRecord {
    @inline(__always)
    mutating func update(_ body: (inout UserRecord) -> Void) { body(&self) }
}

extension Engine: Codable {}

extension EngineStats: Codable {}
