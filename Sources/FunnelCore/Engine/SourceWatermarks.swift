/// Event-time progress per input source (a file, a topic-partition) and the engine's watermark.
///
/// A single "max event time − lateness" over all sources breaks as soon as sources progress at
/// different speeds: a consumer catching up on a backlog interleaves partitions whose event times
/// are hours apart, and one global maximum would make everything from the slower partitions late.
/// So, as in Flink and Kafka Streams: an event is late only relative to its own source (or to what
/// the engine has already applied), and the engine's watermark is the minimum over the active
/// sources, never moving back. A source the driver marks idle (e.g. a caught-up partition) does
/// not hold the watermark back; its next event makes it active again. A source registered before
/// its first event (an assigned partition, an opened file) holds it back until it reports.
public struct SourceWatermarks: Sendable {
    /// Largest event time per source (µs), `.min` before its first event.
    public private(set) var maxTime: [Int64] = []
    public private(set) var idle: [Bool] = []
    /// The engine's watermark: min over active sources of (max − lateness); monotonic.
    public private(set) var watermark: Int64 = .min
    let lateness: Int64
    /// The minimum of `maxTime` over the active sources as of the last ``recompute()``: `.min`
    /// while a registered source has reported nothing, `.max` with every source idle. Only a
    /// source at this minimum can move the watermark by advancing, so the others skip the O(sources)
    /// recompute. Derived state: not checkpointed (`.max` after decoding forces a recompute).
    private var activeLow: Int64 = .max

    enum CodingKeys: String, CodingKey { case maxTime, idle, watermark, lateness }

    init(lateness: Int64) { self.lateness = lateness }

    /// Behind its own source's progress, or behind what the engine already applied.
    @inline(__always)
    func isLate(_ time: Int64, source: Int) -> Bool {
        var bound = watermark
        if source < maxTime.count, maxTime[source] != .min { bound = max(bound, maxTime[source] - lateness) }
        return bound != .min && time < bound
    }

    /// Records an accepted event of `source` at `time`.
    @inline(__always)
    mutating func observe(_ time: Int64, source: Int) {
        if source >= maxTime.count { grow(to: source) }
        let wasIdle = idle[source]
        idle[source] = false
        let previous = maxTime[source]
        if time > previous {
            maxTime[source] = time
            // A source above the minimum leaves the minimum, and so the watermark, where it was.
            if wasIdle || previous <= activeLow { recompute() }
        } else if wasIdle {
            recompute()
        }
    }

    mutating func setIdle(_ source: Int, _ isIdle: Bool) {
        if source >= maxTime.count { grow(to: source) }
        guard idle[source] != isIdle else { return }
        idle[source] = isIdle
        recompute()
    }

    /// Sets a source's progress from a partition handover (never moving it back); its idle
    /// flag is left to the driver.
    mutating func takeOver(maxTime time: Int64, source: Int) {
        if source >= maxTime.count { grow(to: source) }
        guard time > maxTime[source] else { return }
        maxTime[source] = time
        recompute()
    }

    private mutating func grow(to source: Int) {
        while maxTime.count <= source {
            maxTime.append(.min)
            idle.append(false)
        }
    }

    private mutating func recompute() {
        var low = Int64.max
        for s in 0..<maxTime.count where !idle[s] {
            // A registered source with no event yet holds the watermark (its progress is unknown).
            if maxTime[s] == .min {
                activeLow = .min
                return
            }
            low = min(low, maxTime[s])
        }
        activeLow = low
        // With every source idle the watermark stays where it is (nothing new is known).
        guard low != .max else { return }
        let candidate = low - lateness
        if candidate > watermark { watermark = candidate }
    }
}

extension SourceWatermarks: Codable {}
