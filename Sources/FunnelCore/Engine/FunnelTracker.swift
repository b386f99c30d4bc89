/// Conversion funnels in event time.
///
/// Accepted events wait in a reorder buffer until the watermark passes them, then are applied
/// in (event time, arrival) order together with conversion-window expiries and window closes, so
/// out-of-order input within the allowed lateness yields exactly the counts of sorted input.
/// Per-user state exists only while an attempt is open (memory ∝ open attempts, not users).
public struct FunnelTracker: Sendable {
    /// An accepted event waiting for the watermark.
    struct Pending: Comparable, Sendable {
        var time: Int64
        var sequence: UInt64
        var userKey: UInt64
        var type: EventType
        var dims: (UInt8, UInt8, UInt8)

        static func < (a: Pending, b: Pending) -> Bool {
            a.time != b.time ? a.time < b.time : a.sequence < b.sequence
        }
        static func == (a: Pending, b: Pending) -> Bool { a.time == b.time && a.sequence == b.sequence }
    }

    /// A conversion window that ends at `time` (µs).
    struct Expiry: Comparable, Sendable {
        var time: Int64
        var attemptKey: UInt64
        var attemptSequence: UInt32
        var funnel: Int
        /// Ties go to the older attempt (creation order), so a cap evicts the oldest first.
        static func < (a: Expiry, b: Expiry) -> Bool {
            a.time != b.time ? a.time < b.time : a.attemptSequence < b.attemptSequence
        }
    }

    struct Attempt: Sendable {
        var step: Int8
        var dims: (UInt8, UInt8, UInt8)
        var sequence: UInt32
        var start: Int64
        var stepTime: Int64
    }

    public private(set) var funnels: [FunnelCounters]
    /// Interned values of device, channel and category (shared by all funnels).
    public private(set) var dimensions: [DimensionValues]
    private var attempts = U64Map<Attempt>()
    private var pending = MinHeap<Pending>()
    private var expiries = MinHeap<Expiry>()
    private var arrival: UInt64 = 0
    private var attemptSequence: UInt32 = 0
    private let windowMicros: Int64
    /// End of the open tumbling window; nil until the first event.
    public private(set) var windowEnd: Int64?
    /// Whether the open window has applied an event or an expiry.
    private var windowTouched = false
    /// Windows closed in a row with nothing in them.
    private var emptyStreak = 0
    /// Empty windows skipped (not emitted) after a long stretch of nothing; see ``maxEmptyWindows``.
    public private(set) var skippedEmptyWindows: Int64 = 0
    /// After this many empty windows in a row, the tracker jumps to the window of the next event or
    /// expiry instead of emitting one empty snapshot per window: a watermark that jumps by years
    /// (one far-future event) would otherwise close millions of windows at once. It is the longest
    /// rolling window or alert long window (in windows), so when the skip starts every rolling sum
    /// and every detector window is already all-zero: the skipped snapshots would all be empty.
    public let maxEmptyWindows: Int
    /// At most this many attempts are open at once: one per tracked user and funnel
    /// (`max_users` × funnels). Beyond it the attempt whose conversion window ends first is closed
    /// early as dropped and counted in ``evictedAttempts``, so a flood of distinct users cannot
    /// grow the tracker without bound (the expiry queue is bounded with it).
    public let maxOpenAttempts: Int
    /// Attempts closed early by ``maxOpenAttempts`` (also counted as dropped).
    public private(set) var evictedAttempts: Int64 = 0
    public var openAttempts: Int { attempts.count }
    public var bufferedEvents: Int { pending.count }

    public init(config: EngineConfig) {
        windowMicros = Int64(config.funnelWindowSeconds) * 1_000_000
        let cap = config.funnels.map(\.breakdownCardinality).max() ?? 32
        dimensions = (0..<3).map { _ in DimensionValues(cap: cap) }
        let ringWindows = (config.rollingWindowSeconds.max() ?? 0) / config.funnelWindowSeconds
        let alertWindows = config.alerts.enabled ? config.alerts.funnel.longWindowSeconds / config.funnelWindowSeconds : 0
        maxEmptyWindows = max(ringWindows, alertWindows, 1)
        maxOpenAttempts = max(config.effectiveMaxUsers * max(config.funnels.count, 1), 16)
        funnels = config.funnels.map {
            FunnelCounters(spec: $0, dimensionCap: cap, ringWindows: max(ringWindows, 1),
                           rolling: config.rollingWindowSeconds)
        }
    }

    // MARK: - Input

    /// Interns the event's dimension values (reading names from the record only for new values).
    @inline(__always)
    public mutating func dimensionSlots(for event: Event, record: UnsafeRawBufferPointer) -> (UInt8, UInt8, UInt8) {
        let d = dimensions[0].intern(key: event.deviceKey) { TextField.string(event.device, in: record) }
        let c = dimensions[1].intern(key: event.channelKey) { TextField.string(event.channel, in: record) }
        let k = dimensions[2].intern(key: event.categoryKey) { TextField.string(event.category, in: record) }
        return (d, c, k)
    }

    /// Starts loading the attempt slot of the next buffered event (a cache hint): it is applied
    /// soon, and its miss then overlaps the current event's.
    @inline(__always)
    public func prefetchNext() {
        guard let next = pending.min else { return }
        attempts.prefetch(Self.attemptKey(user: next.userKey, funnel: 0))
    }

    /// Buffers an accepted (not late) event until the watermark passes it.
    @inline(__always)
    public mutating func add(time: Int64, userKey: UInt64, type: EventType, dims: (UInt8, UInt8, UInt8)) {
        arrival &+= 1
        pending.push(Pending(time: time, sequence: arrival, userKey: userKey, type: type, dims: dims))
    }

    /// Applies everything strictly before the watermark, in event-time order; closes windows on it.
    public mutating func advance(to watermark: Int64, emit: (FunnelSnapshot) -> Void) {
        // Fast path: nothing is due yet (the common case for in-order input with lateness).
        if (windowEnd ?? .max) > watermark, (pending.min?.time ?? .max) >= watermark,
            (expiries.min?.time ?? .max) >= watermark
        {
            return
        }
        while true {
            let boundary = windowEnd.flatMap { $0 <= watermark ? $0 : nil }
            let nextEvent = pending.min.flatMap { $0.time < watermark ? $0.time : nil }
            let nextExpiry = expiries.min.flatMap { $0.time < watermark ? $0.time : nil }
            // Ties: a window closes before events at its end; an event at t converts before an expiry at t.
            if let b = boundary, b <= (nextEvent ?? .max), b <= (nextExpiry ?? .max) {
                closeWindow(watermark: watermark, partial: false, emit: emit)
                if emptyStreak >= maxEmptyWindows, let end = windowEnd {
                    // Jump to the window holding the next thing to apply (or the watermark).
                    let next = min(nextEvent ?? .max, nextExpiry ?? .max, watermark)
                    let target = floorDiv(next, windowMicros) &* windowMicros &+ windowMicros
                    if target > end {
                        skippedEmptyWindows &+= (target - end) / windowMicros
                        windowEnd = target
                    }
                }
            } else if let e = nextEvent, e <= (nextExpiry ?? .max) {
                // A burst of releases probes one scattered attempt slot per event: request the
                // slot of an event a few places ahead, so the misses overlap.
                if let ahead = pending.runElement(ahead: Self.lookahead) {
                    attempts.prefetch(Self.attemptKey(user: ahead.userKey, funnel: 0))
                }
                guard let event = pending.pop() else { return }
                if windowEnd == nil { windowEnd = floorDiv(event.time, windowMicros) * windowMicros + windowMicros }
                windowTouched = true
                apply(event)
            } else if nextExpiry != nil {
                if let ahead = expiries.runElement(ahead: Self.lookahead) { attempts.prefetch(ahead.attemptKey) }
                guard let expiry = expiries.pop() else { return }
                expire(expiry)
            } else {
                return
            }
        }
    }

    /// End of a bounded input: applies what is buffered and emits the open window as partial.
    /// Open attempts stay in flight: nothing is dropped because the input ended.
    public mutating func finish(maxEventTime: Int64, emit: (FunnelSnapshot) -> Void) {
        advance(to: maxEventTime &+ 1, emit: emit)
        if windowEnd != nil { closeWindow(watermark: maxEventTime &+ 1, partial: true, emit: emit) }
    }

    /// How far ahead of the queue heads `advance` requests attempt slots.
    static let lookahead = 4

    // MARK: - Rules

    @inline(__always)
    private static func attemptKey(user: UInt64, funnel: Int) -> UInt64 {
        let k = funnel == 0 ? user : StableHash.combine(user, UInt64(funnel))
        return k == 0 ? 1 : k
    }

    private mutating func apply(_ event: Pending) {
        for f in funnels.indices {
            let key = Self.attemptKey(user: event.userKey, funnel: f)
            let stepCount = funnels[f].stepTypes.count
            if var attempt = attempts[key] {
                guard advance(&attempt, funnel: f, type: event.type, time: event.time, stepCount: stepCount) else {
                    continue
                }
                if Int(attempt.step) == stepCount - 1 {
                    attempts[key] = nil
                } else {
                    attempts[key] = attempt
                }
            } else {
                guard funnels[f].stepTypes[0].contains(event.type) else { continue }
                attemptSequence &+= 1
                var attempt = Attempt(step: 0, dims: event.dims, sequence: attemptSequence, start: event.time,
                                      stepTime: event.time)
                funnels[f].record(.entered, step: 0, dims: attempt.dims)
                funnels[f].adjustInFlight(step: 0, dims: attempt.dims, by: 1)
                _ = advance(&attempt, funnel: f, type: event.type, time: event.time, stepCount: stepCount)
                if Int(attempt.step) < stepCount - 1 {
                    attempts[key] = attempt
                    expiries.push(Expiry(time: event.time + funnels[f].conversionWindow, attemptKey: key,
                                         attemptSequence: attempt.sequence, funnel: f))
                    if attempts.count > maxOpenAttempts || expiries.count > 2 &* maxOpenAttempts { evictOldest() }
                }
            }
        }
    }

    /// Moves through every consecutive next step the event's type matches. Returns whether it moved.
    @inline(__always)
    private mutating func advance(_ attempt: inout Attempt, funnel f: Int, type: EventType, time: Int64,
                                  stepCount: Int) -> Bool {
        var moved = false
        while Int(attempt.step) + 1 < stepCount, funnels[f].stepTypes[Int(attempt.step) + 1].contains(type) {
            let from = Int(attempt.step)
            funnels[f].record(.converted, step: from, dims: attempt.dims)
            funnels[f].adjustInFlight(step: from, dims: attempt.dims, by: -1)
            funnels[f].recordTimeToConvert(step: from, micros: time - attempt.stepTime)
            attempt.step += 1
            attempt.stepTime = time
            let to = Int(attempt.step)
            funnels[f].record(.entered, step: to, dims: attempt.dims)
            if to < stepCount - 1 { funnels[f].adjustInFlight(step: to, dims: attempt.dims, by: 1) }
            moved = true
        }
        return moved
    }

    private mutating func expire(_ expiry: Expiry) {
        guard let attempt = attempts[expiry.attemptKey], attempt.sequence == expiry.attemptSequence else { return }
        windowTouched = true
        let f = expiry.funnel
        funnels[f].record(.dropped, step: Int(attempt.step), dims: attempt.dims)
        funnels[f].adjustInFlight(step: Int(attempt.step), dims: attempt.dims, by: -1)
        attempts[expiry.attemptKey] = nil
    }

    /// Closes the attempts whose conversion windows end first, as drops, until the open attempts
    /// and the expiry queue (which also holds entries of attempts already completed) are within
    /// their caps.
    private mutating func evictOldest() {
        while attempts.count > maxOpenAttempts || expiries.count > 2 &* maxOpenAttempts,
            let expiry = expiries.pop()
        {
            guard let attempt = attempts[expiry.attemptKey], attempt.sequence == expiry.attemptSequence else {
                continue  // the attempt completed or expired already: a stale entry
            }
            windowTouched = true
            let f = expiry.funnel
            funnels[f].record(.dropped, step: Int(attempt.step), dims: attempt.dims)
            funnels[f].adjustInFlight(step: Int(attempt.step), dims: attempt.dims, by: -1)
            attempts[expiry.attemptKey] = nil
            evictedAttempts &+= 1
        }
    }

    private mutating func closeWindow(watermark: Int64, partial: Bool, emit: (FunnelSnapshot) -> Void) {
        guard let end = windowEnd else { return }
        emptyStreak = windowTouched ? 0 : emptyStreak + 1
        windowTouched = false
        for f in funnels.indices {
            emit(funnels[f].closeWindow(start: end - windowMicros, end: end, watermark: watermark, partial: partial,
                                        dimensions: dimensions))
        }
        windowEnd = end + windowMicros
    }
}

// MARK: - Partition handover

extension FunnelTracker {
    /// A user's funnel state as it moves to another engine: open attempts with their pending
    /// expiries, and the user's accepted events still waiting in the reorder buffer. Dimension
    /// slots travel as values (each engine interns its own).
    struct Handed: Codable, Sendable {
        struct OpenAttempt: Codable, Sendable {
            var user: UInt64
            var funnel: Int32
            var step: Int8
            var dims: [DimensionValues.Handed]
            var start: Int64
            var stepTime: Int64
            var expiries: [Int64]
        }

        struct Buffered: Codable, Sendable {
            var time: Int64
            var user: UInt64
            var type: UInt8
            var dims: [DimensionValues.Handed]
        }

        var attempts: [OpenAttempt] = []
        var buffered: [Buffered] = []
    }

    private func handed(_ dims: (UInt8, UInt8, UInt8)) -> [DimensionValues.Handed] {
        [dimensions[0].handed(dims.0), dimensions[1].handed(dims.1), dimensions[2].handed(dims.2)]
    }

    private mutating func intern(_ dims: [DimensionValues.Handed]) -> (UInt8, UInt8, UInt8) {
        guard dims.count == 3 else { return (0, 0, 0) }
        return (dimensions[0].intern(dims[0]), dimensions[1].intern(dims[1]), dimensions[2].intern(dims[2]))
    }

    /// Detaches the funnel state of `users`. Their open attempts leave this engine's in-flight
    /// gauges (they are neither converted nor dropped here); what they entered stays counted here.
    mutating func handOver(users: Set<UInt64>) -> Handed {
        var out = Handed()
        let buffered = pending.removeAll { users.contains($0.userKey) }.sorted()
        out.buffered = buffered.map { Handed.Buffered(time: $0.time, user: $0.userKey, type: $0.type.rawValue,
                                                      dims: handed($0.dims)) }
        var moved: [UInt64: (user: UInt64, funnel: Int, attempt: Attempt)] = [:]
        for user in users.sorted() {
            for f in funnels.indices {
                let key = Self.attemptKey(user: user, funnel: f)
                guard let attempt = attempts[key] else { continue }
                attempts[key] = nil
                funnels[f].adjustInFlight(step: Int(attempt.step), dims: attempt.dims, by: -1)
                moved[key] = (user, f, attempt)
            }
        }
        guard !moved.isEmpty else { return out }
        var expiryTimes: [UInt64: [Int64]] = [:]
        for expiry in expiries.removeAll(where: { moved[$0.attemptKey] != nil }) {
            guard let entry = moved[expiry.attemptKey], entry.attempt.sequence == expiry.attemptSequence else { continue }
            expiryTimes[expiry.attemptKey, default: []].append(expiry.time)
        }
        for (key, entry) in moved.sorted(by: { $0.key < $1.key }) {
            out.attempts.append(Handed.OpenAttempt(
                user: entry.user, funnel: Int32(entry.funnel), step: entry.attempt.step, dims: handed(entry.attempt.dims),
                start: entry.attempt.start, stepTime: entry.attempt.stepTime, expiries: expiryTimes[key] ?? []))
        }
        return out
    }

    /// Takes over funnel state another engine detached: the attempts of the users whose imported
    /// record won (`keep`), replacing a local attempt of the same user and funnel, and every
    /// buffered event (accepted events count in the funnels whichever record won).
    /// - Returns: the attempts taken over.
    @discardableResult
    mutating func takeOver(_ handed: Handed, keep: (UInt64) -> Bool) -> Int {
        var taken = 0
        for open in handed.attempts where Int(open.funnel) >= 0 && Int(open.funnel) < funnels.count && keep(open.user) {
            let f = Int(open.funnel)
            let key = Self.attemptKey(user: open.user, funnel: f)
            if let local = attempts[key] {
                funnels[f].adjustInFlight(step: Int(local.step), dims: local.dims, by: -1)
            }
            taken += 1
            attemptSequence &+= 1
            let attempt = Attempt(step: open.step, dims: intern(open.dims), sequence: attemptSequence,
                                  start: open.start, stepTime: open.stepTime)
            attempts[key] = attempt
            funnels[f].adjustInFlight(step: Int(attempt.step), dims: attempt.dims, by: 1)
            for time in open.expiries {
                expiries.push(Expiry(time: time, attemptKey: key, attemptSequence: attempt.sequence, funnel: f))
            }
        }
        for event in handed.buffered {
            guard let type = EventType(rawValue: event.type) else { continue }
            add(time: event.time, userKey: event.user, type: type, dims: intern(event.dims))
        }
        if attempts.count > maxOpenAttempts || expiries.count > 2 &* maxOpenAttempts { evictOldest() }
        return taken
    }
}

@inline(__always)
func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

extension FunnelTracker: Codable {}

extension FunnelTracker.Pending: RawCodable {}

extension FunnelTracker.Expiry: RawCodable {}

extension FunnelTracker.Attempt: RawCodable {}
