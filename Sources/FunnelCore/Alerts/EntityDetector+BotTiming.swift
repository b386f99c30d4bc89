/// Inter-event timing of the few users active enough to be worth timing (`bot_timing`).
///
/// Ordinary users cost nothing here: a user enters the bounded table only while its shortest
/// window holds at least `activity_per_minute` events, and only such events are timed. Each
/// timed user keeps a ring of its last `min_gaps` gaps (seconds, Float); a run ends (the ring
/// is cleared) after a silence longer than `runBreak`, so gaps of separate bursts never mix.
/// Human inter-event gaps are roughly exponential (coefficient of variation near 1); scripted
/// clients click on a timer (CV of a few percent).
struct BotTimingTracker: Sendable {
    private var table: EntityTable
    private var gaps: [Float]
    private var filled: [UInt8]
    private var head: [UInt8]
    let ring: Int
    /// A silence longer than this (µs) starts a new run.
    let runBreak: Int64

    init(rule: EntityAlertConfig.BotTiming, enabled: Bool) {
        let on = enabled && rule.enabled
        table = EntityTable(capacity: on ? rule.capacity : 0)
        ring = max(2, min(rule.minGaps, EntityAlertConfig.BotTiming.maxGaps))
        runBreak = Int64(max(60, 4 * rule.maxMeanGapSeconds) * 1_000_000)
        gaps = Array(repeating: 0, count: table.capacity * ring)
        filled = Array(repeating: 0, count: table.capacity)
        head = Array(repeating: 0, count: table.capacity)
    }

    var count: Int { table.count }
    var bytes: Int { table.bytes + gaps.count * MemoryLayout<Float>.stride + filled.count + head.count }

    /// Adds the gap before this event (`sincePrevious`, µs, from the user's previous event, so
    /// never called for a new user) to the user's run; once the run holds
    /// `ring` gaps, returns their mean (seconds) and coefficient of variation.
    @inline(__always)
    mutating func observe(user: UInt64, now: Int64, sincePrevious: Int64) -> (mean: Double, cv: Double)? {
        let (slot, isNew) = table.findOrInsert(user, now: now)
        if isNew || sincePrevious > runBreak {
            filled[slot] = 0
            head[slot] = 0
            if sincePrevious > runBreak { return nil }
        }
        let base = slot &* ring
        let h = Int(head[slot])
        gaps[base + h] = Float(Double(sincePrevious) / 1_000_000)
        head[slot] = UInt8((h + 1) % ring)
        let n = Int(filled[slot])
        if n < ring {
            filled[slot] = UInt8(n + 1)
            if n + 1 < ring { return nil }
        }
        var sum = 0.0
        for i in base..<(base + ring) { sum += Double(gaps[i]) }
        let mean = sum / Double(ring)
        var squares = 0.0
        for i in base..<(base + ring) {
            let d = Double(gaps[i]) - mean
            squares += d * d
        }
        let sd = (squares / Double(ring - 1)).squareRoot()
        return (mean, mean > 0 ? sd / mean : .infinity)
    }

    @inline(__always)
    mutating func sweep(now: Int64) { table.sweep(now: now, maxAge: runBreak) }
}

extension BotTimingTracker: Codable {}
