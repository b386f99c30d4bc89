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
    mutating func accepted(_ event: Event, context: EventContext, engine: borrowing Engine,
                           record: UnsafeRawBufferPointer, position: SourcePosition)
    mutating func snapshot(_ snapshot: FunnelSnapshot)
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
    public private(set) var users: UserStore
    public private(set) var funnels: FunnelTracker
    public private(set) var stats = EngineStats()
    private var dedupe: Deduplicator
    private let latenessMicros: Int64
    private let ttlMicros: Int64
    private let sessionGapMicros: Int64
    /// Bucket width per feature window, seconds.
    private let bucketSeconds: [UInt32]
    /// Largest event time accepted so far (µs); `.min` before the first event.
    public private(set) var maxEventTime: Int64 = .min

    public init(config: EngineConfig) throws(ConfigError) {
        try config.validate()
        self.config = config
        users = UserStore(capacity: config.maxUsers)
        funnels = FunnelTracker(config: config)
        dedupe = Deduplicator(spanSeconds: config.dedupeWindowSeconds, capacity: config.dedupeCapacity)
        latenessMicros = Int64(config.allowedLatenessSeconds * 1_000_000)
        ttlMicros = Int64(config.userTTLSeconds) * 1_000_000
        sessionGapMicros = Int64(config.sessionGapSeconds) * 1_000_000
        bucketSeconds = config.windowSeconds.map { UInt32(max(1, $0 / UserRecord.buckets)) }
    }

    /// Watermark: no event older than this is accepted any more.
    public var watermark: Int64 { maxEventTime == .min ? .min : maxEventTime - latenessMicros }

    // MARK: - Input

    /// Decodes and applies one record.
    @inline(__always)
    public mutating func process<S: EngineSink>(
        _ record: UnsafeRawBufferPointer, decoder: inout RecordDecoder, at position: SourcePosition, sink: inout S
    ) {
        ingest(decoder.decode(record), record: record, at: position, sink: &sink)
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
        case .event(let event):
            stats.read += 1
            apply(event, record: record, position: position, sink: &sink)
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

    private mutating func apply<S: EngineSink>(
        _ event: Event, record: UnsafeRawBufferPointer, position: SourcePosition, sink: inout S
    ) {
        if maxEventTime != .min && event.timestamp < watermark {
            reject(DecodeFailure(.late, "event time is behind the watermark (allowed lateness exceeded)"),
                   record: record, position: position, sink: &sink)
            return
        }
        if event.eventKey != 0 && dedupe.isEnabled
            && dedupe.isDuplicate(event.eventKey, streamTime: max(maxEventTime, event.timestamp))
        {
            stats.duplicates += 1
            return
        }
        stats.accepted += 1
        if event.timestamp > maxEventTime { maxEventTime = event.timestamp }

        let context = updateUser(event)
        sink.accepted(event, context: context, engine: self, record: record, position: position)

        let dims = funnels.dimensionSlots(for: event, record: record)
        funnels.add(time: event.timestamp, userKey: event.userKey, type: event.type, dims: dims)
        let wm = watermark
        funnels.advance(to: wm) { sink.snapshot($0) }
        // Amortised idle eviction: a few users per event keeps the pause bounded.
        users.evictIdle(before: wm - ttlMicros, limit: 4)
    }

    /// End of a bounded input: releases buffered events and emits the open window as partial.
    public mutating func finish<S: EngineSink>(sink: inout S) {
        guard maxEventTime != .min else { return }
        funnels.finish(maxEventTime: maxEventTime) { sink.snapshot($0) }
    }

    public var dedupeEarlyRotations: Int { dedupe.earlyRotations }

    // MARK: - Per-user windows

    private mutating func updateUser(_ event: Event) -> EventContext {
        let (slot, isNew) = users.findOrInsert(event.userKey)
        let ts = event.timestamp
        let seconds = UInt32(clamping: ts / 1_000_000)
        let gap = config.windowSeconds.count
        let buckets = bucketSeconds
        let sessionGap = sessionGapMicros
        var context = EventContext(userSlot: slot, isNewUser: isNew, isNewSession: isNew, sincePrevious: 0,
                                   itemViewedBefore: false, itemCartedBefore: false)
        users[slot].update { u in
            if isNew {
                u.firstSeen = seconds
                u.sessionStart = seconds
                u.sessions = 1
                u.lastSeen = ts
                u.sessionTag = UInt32(truncatingIfNeeded: event.sessionKey)
            } else {
                context.sincePrevious = max(0, ts - u.lastSeen)
                let tag = UInt32(truncatingIfNeeded: event.sessionKey)
                let newSession =
                    event.sessionKey != 0 ? (tag != u.sessionTag) : (ts - u.lastSeen > sessionGap)
                if newSession && ts >= u.lastSeen {
                    u.sessions &+= u.sessions == .max ? 0 : 1
                    u.sessionStart = seconds
                    u.sessionDepth = 0
                    u.sessionTag = tag
                    context.isNewSession = true
                }
            }
            u.sessionDepth &+= u.sessionDepth == .max ? 0 : 1
            context.itemViewedBefore = u.hasViewed(event.itemKey)
            context.itemCartedBefore = u.hasCarted(event.itemKey)

            // Sliding windows: rotate each window's quarter buckets up to this event's time.
            let lastSeconds = UInt32(clamping: u.lastSeen / 1_000_000)
            let group = event.type.windowGroup
            for w in 0..<gap {
                let width = buckets[w]
                let newEpoch = seconds / width
                let lastEpoch = isNew ? newEpoch : lastSeconds / width
                if newEpoch > lastEpoch {
                    let steps = min(newEpoch - lastEpoch, 4)
                    for k in 1...steps {
                        let b = Int((lastEpoch &+ k) & 3)
                        for g in 0..<6 { u.counts[w * 24 + b * 6 + g] = 0 }
                    }
                }
                if newEpoch &+ 3 >= lastEpoch {
                    let i = w * 24 + Int(newEpoch & 3) * 6 + group
                    if u.counts[i] < 255 { u.counts[i] += 1 }
                }
            }
            if ts > u.lastSeen { u.lastSeen = ts }

            switch event.type {
            case .view:
                if event.itemKey != 0 { u.viewedItems |= UserRecord.bloomBits(event.itemKey) }
            case .cart:
                if event.itemKey != 0 { u.cartedItems |= UserRecord.bloomBits(event.itemKey) }
                let q = UInt16(clamping: max(Int(event.quantity), 1))
                u.cartItems = u.cartItems &+ min(q, .max - u.cartItems)
                if event.price.isFinite { u.cartValue += Float(event.price) * Float(max(event.quantity, 1)) }
            case .removeFromCart:
                let q = UInt16(clamping: max(Int(event.quantity), 1))
                u.cartItems -= min(q, u.cartItems)
                if event.price.isFinite {
                    u.cartValue = max(0, u.cartValue - Float(event.price) * Float(max(event.quantity, 1)))
                }
                if u.cartItems == 0 { u.cartValue = 0 }
            case .purchase:
                u.purchases &+= u.purchases == .max ? 0 : 1
                u.cartItems = 0
                u.cartValue = 0
            default:
                break
            }
            if event.itemKey != 0 || event.categoryKey != 0 {
                for i in stride(from: 7, to: 0, by: -1) { u.recent[i] = u.recent[i - 1] }
                let itemFP = (event.itemKey >> 40) & 0xFF_FFFF
                let catFP = event.categoryKey == 0 ? 0 : (event.categoryKey >> 48) | 1
                u.recent[0] = itemFP << 40 | (catFP & 0xFFFF) << 24 | (UInt64(seconds) & 0xFF_FFFF)
                if u.recent[0] == 0 { u.recent[0] = 1 }
            }
        }
        return context
    }
}

extension UserRecord {
    @inline(__always)
    mutating func update(_ body: (inout UserRecord) -> Void) { body(&self) }
}
