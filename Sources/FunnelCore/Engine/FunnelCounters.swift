/// One funnel's counters: the open tumbling window, a ring of closed windows for the rolling
/// sums, in-flight gauges and run totals, each for the total and every breakdown value.
///
/// Layout: slot 0 is the total; then, per breakdown dimension, `cap + 2` slots
/// ((none), the first `cap` values, other). Counter index = (slot · steps + step) · 3 + kind.
public struct FunnelCounters: Sendable {
    public enum Kind: Int { case entered = 0, converted = 1, dropped = 2 }

    public let spec: FunnelSpec
    let stepTypes: [EventTypeSet]
    let conversionWindow: Int64
    /// Global dimension index (0 device, 1 channel, 2 category) of each breakdown.
    let breakdownDimensions: [Int]
    let cap: Int
    let steps: Int
    let slots: Int

    private var window: [Int64]
    private var inFlight: [Int64]
    public private(set) var totals: [Int64]
    private var ttcWindow: [UInt32]
    /// Closed windows, newest last, at most `ringWindows`.
    private var ring: [[Int64]] = []
    private var ttcRing: [[UInt32]] = []
    private let ringWindows: Int
    private let rolling: [Int]
    private let windowSeconds: Int

    init(spec: FunnelSpec, dimensionCap: Int, ringWindows: Int, rolling: [Int]) {
        self.spec = spec
        stepTypes = spec.steps.map(\.typeSet)
        conversionWindow = Int64(spec.conversionWindowSeconds) * 1_000_000
        breakdownDimensions = spec.breakdowns.compactMap { FunnelSpec.knownBreakdowns.firstIndex(of: $0) }
        cap = spec.breakdownCardinality
        steps = spec.steps.count
        slots = 1 + breakdownDimensions.count * (cap + 2)
        window = Array(repeating: 0, count: slots * steps * 3)
        inFlight = Array(repeating: 0, count: slots * steps)
        totals = window
        ttcWindow = Array(repeating: 0, count: steps * TimeHistogram.buckets)
        self.ringWindows = ringWindows
        self.rolling = rolling
        windowSeconds = rolling.isEmpty ? 60 : 0
    }

    @inline(__always)
    private func slot(breakdown b: Int, dims: (UInt8, UInt8, UInt8)) -> Int {
        var value: UInt8
        switch breakdownDimensions[b] {
        case 0: value = dims.0
        case 1: value = dims.1
        default: value = dims.2
        }
        if Int(value) > cap { value = UInt8(cap + 1) }
        return 1 + b * (cap + 2) + Int(value)
    }

    @inline(__always)
    mutating func record(_ kind: Kind, step: Int, dims: (UInt8, UInt8, UInt8)) {
        let i0 = step * 3 + kind.rawValue
        window[i0] += 1
        totals[i0] += 1
        for b in 0..<breakdownDimensions.count {
            let i = (slot(breakdown: b, dims: dims) * steps + step) * 3 + kind.rawValue
            window[i] += 1
            totals[i] += 1
        }
    }

    @inline(__always)
    mutating func adjustInFlight(step: Int, dims: (UInt8, UInt8, UInt8), by delta: Int64) {
        inFlight[step] += delta
        for b in 0..<breakdownDimensions.count {
            inFlight[slot(breakdown: b, dims: dims) * steps + step] += delta
        }
    }

    @inline(__always)
    mutating func recordTimeToConvert(step: Int, micros: Int64) {
        let bucket = TimeHistogram.bucket(seconds: Double(max(micros, 0)) / 1_000_000)
        ttcWindow[step * TimeHistogram.buckets + bucket] &+= 1
    }

    /// Run totals for the whole funnel (slot 0), with the current in-flight gauges.
    public var totalStats: [FunnelStepStats] { stats(slot: 0, from: totals, inFlight: true) }

    private func stats(slot: Int, from counters: [Int64], inFlight withGauge: Bool) -> [FunnelStepStats] {
        (0..<steps).map { s in
            let i = (slot * steps + s) * 3
            return FunnelStepStats(
                entered: counters[i], converted: counters[i + 1], dropped: counters[i + 2],
                inFlight: withGauge ? inFlight[slot * steps + s] : 0)
        }
    }

    private func percentiles(_ histogram: [UInt32], step: Int) -> TimeToConvert? {
        histogram.withUnsafeBufferPointer {
            TimeHistogram.percentiles(UnsafeBufferPointer(rebasing: $0[(step * TimeHistogram.buckets)..<((step + 1) * TimeHistogram.buckets)]))
        }
    }

    mutating func closeWindow(start: Int64, end: Int64, watermark: Int64, partial: Bool,
                              dimensions: [DimensionValues]) -> FunnelSnapshot {
        ring.append(window)
        ttcRing.append(ttcWindow)
        if ring.count > ringWindows {
            ring.removeFirst()
            ttcRing.removeFirst()
        }
        let windowLength = Int(max(end - start, 1) / 1_000_000)
        var rollingOut: [FunnelSnapshot.Rolling] = []
        for seconds in rolling {
            let n = min(ring.count, max(1, seconds / max(windowLength, 1)))
            var sum = Array(repeating: Int64(0), count: steps * 3)
            var ttc = Array(repeating: UInt32(0), count: steps * TimeHistogram.buckets)
            for w in (ring.count - n)..<ring.count {
                for i in 0..<(steps * 3) { sum[i] += ring[w][i] }
                for i in 0..<ttc.count { ttc[i] &+= ttcRing[w][i] }
            }
            var stepStats = stats(slot: 0, from: sum, inFlight: true)
            for s in 0..<steps { stepStats[s].inFlight = inFlight[s] }
            rollingOut.append(.init(seconds: seconds, steps: stepStats,
                                    timeToConvert: (0..<steps).map { percentiles(ttc, step: $0) }))
        }
        var breakdowns: [FunnelSnapshot.Breakdown] = []
        for (b, dimension) in breakdownDimensions.enumerated() {
            var values: [FunnelSnapshot.BreakdownValue] = []
            for v in 0..<(cap + 2) {
                let slot = 1 + b * (cap + 2) + v
                let s = stats(slot: slot, from: window, inFlight: true)
                if s.allSatisfy(\.isZero) { continue }
                let name = v == cap + 1 ? DimensionValues.otherName : dimensions[dimension].name(of: UInt8(v))
                values.append(.init(name: name, steps: s))
            }
            breakdowns.append(.init(dimension: FunnelSpec.knownBreakdowns[dimension], values: values))
        }
        let snapshot = FunnelSnapshot(
            funnel: spec.name, stepNames: spec.steps.map(\.name), windowStart: start, windowEnd: end,
            watermark: watermark, partial: partial, steps: stats(slot: 0, from: window, inFlight: true),
            timeToConvert: (0..<steps).map { percentiles(ttcWindow, step: $0) }, rolling: rollingOut,
            breakdowns: breakdowns)
        for i in window.indices { window[i] = 0 }
        for i in ttcWindow.indices { ttcWindow[i] = 0 }
        return snapshot
    }
}

extension FunnelCounters: Codable {}
