/// Purchases per event of each product category, over the whole stream so far, decayed in event time.
///
/// The model reads a category's rate as one numeric feature, its smoothed log lift over the stream's
/// own rate: `log((p_c + m·r) / (e_c + m)) − log(r)`, with `e_c`/`p_c` the category's decayed events
/// and purchases, `r` the stream's and `m` = ``priorEvents`` pseudo-events at that rate. An unseen
/// category reads 0 and a category earns its lift as its events accumulate. One weight then carries
/// what the per-category id weights learn one category at a time, from labels half an hour late:
/// on the Taobao slice this rate alone ranks the predictions at AUC 0.590 (all) and 0.620 (last 30 %).
/// These are statistics of past events of every user (no label is read), so the protocol allows them.
///
/// Categories are keyed by the same 16-bit fingerprint as ``UserRecord/sessionCategory``
/// (``UserRecord/categoryFingerprint(_:)``), so the session's entry category has a rate too. The table
/// is fixed: 2^16 slots of two `Double`s (1 MiB), no allocation per event. Colliding categories
/// share a rate. Counts halve every `halfLife` of event time, applied in eight steps per half-life
/// by one sweep of the table, so a long-running daemon follows a shifting catalogue. They are
/// `Double`s because a `Float` stops counting at 2^24: at 10,000 events/s the stream's decayed total
/// settles near 1.2 · 10^9 with the default half-life of a day.
public struct CategoryRates: Sendable, Codable, Equatable {
    /// Pseudo-events at the stream's rate that every category starts from.
    public static let priorEvents: Double = 50
    static let slots = 1 << 16
    static let stepsPerHalfLife: Int64 = 8
    /// Bytes of the table.
    public static let tableBytes = 2 * slots * MemoryLayout<Double>.stride

    /// (events, purchases) per slot, interleaved.
    private(set) var counts: [Double]
    private(set) var events: Double = 0
    private(set) var purchases: Double = 0
    /// Length of one decay step, and the step the counts are decayed to.
    let stepMicros: Int64
    private(set) var step: Int64?

    public init(halfLifeSeconds: Int) {
        counts = [Double](repeating: 0, count: 2 * Self.slots)
        stepMicros = max(1, Int64(halfLifeSeconds) * 1_000_000 / Self.stepsPerHalfLife)
    }

    /// The slot key of a category key (0: no category): its user-state fingerprint.
    @inline(__always)
    public static func key(ofCategory categoryKey: UInt64) -> UInt16 {
        UserRecord.categoryFingerprint(categoryKey)
    }

    /// Counts one accepted event of category `key` (0: counted in the stream's totals only).
    @inline(__always)
    public mutating func observe(key: UInt16, purchase: Bool, time: Int64) {
        decay(to: time)
        events += 1
        if purchase { purchases += 1 }
        guard key != 0 else { return }
        let i = 2 &* Int(key)
        counts.withUnsafeMutableBufferPointer { c in
            c[i] += 1
            if purchase { c[i &+ 1] += 1 }
        }
    }

    /// The smoothed log lift of category `key` over the stream's rate (0 for no category).
    @inline(__always)
    public func lift(key: UInt16) -> Float {
        guard key != 0 else { return 0 }
        let i = 2 &* Int(key)
        let (e, p) = counts.withUnsafeBufferPointer { ($0[i], $0[i &+ 1]) }
        let rate = (purchases + 1) / (events + 100)
        let m = Self.priorEvents
        return Float(MathShim.log((p + m * rate) / ((e + m) * rate)))
    }

    /// Replaces the counts with saved ones (``ModelCodec``); `fill` writes the interleaved table.
    mutating func restore(step: Int64?, events: Double, purchases: Double,
                          fill: (inout UnsafeMutableBufferPointer<Double>) -> Void) {
        self.step = step
        self.events = events
        self.purchases = purchases
        counts.withUnsafeMutableBufferPointer { fill(&$0) }
    }

    private mutating func decay(to time: Int64) {
        let now = time / stepMicros
        guard let last = step else {
            step = now
            return
        }
        guard now > last else { return }
        step = now
        let factor = MathShim.exp2(-Double(min(now - last, 64 * Self.stepsPerHalfLife)) / Double(Self.stepsPerHalfLife))
        events *= factor
        purchases *= factor
        counts.withUnsafeMutableBufferPointer { c in
            for i in c.indices { c[i] *= factor }
        }
    }
}
