/// The `outlier` rule: a one-sided, diagonal Mahalanobis score of a user's activity against the
/// population, all in event time.
///
/// **Features** (from the engine's per-user windows; log1p of counts):
/// 0. events in the shortest window (≈ events per minute),
/// 1. events in the window nearest 5 min,
/// 2. add-to-carts in the window nearest 5 min,
/// 3. checkouts in the window nearest 30 min,
/// 4. purchases in the longest window (≈ 24 h),
/// 5. distinct items among the user's recent product events of the last 5 min.
///
/// **Population**: exponentially weighted mean and variance of each feature. Every 8th event
/// is a sample (a deterministic counter, so replays agree); a sample contributes its user's
/// current vector with weight 1 / (events in the shortest window), so every active user-minute
/// counts about once and a heavy hitter cannot drag the population towards itself. Samples
/// that themselves score above the threshold (users currently flagged) are left out. Samples
/// accumulate for a minute of event time and are then folded into the statistics with decay
/// 2^(−60 s / half-life).
///
/// **Score**: s = Σ_f max(0, (x_f − μ_f) / σ_f)², with σ_f floored at `min_std` so that features
/// that are almost always 0 (purchases, checkouts) cannot turn one ordinary purchase into a huge
/// z. Only excess counts: being quieter than the population is not suspicious. Under
/// independent Gaussian features s would be a one-sided χ² with 6 degrees of freedom; activity
/// counts are heavy-tailed, so the threshold is set far out (default 40: on simulated days
/// ordinary shoppers stay below 30, while fast bots and card testers climb past 40 within
/// minutes and reach ~110). The rule fires when s ≥ threshold for a user with at least
/// `min_events` events in the longest window, once the population holds `min_population`
/// user-minutes of weight. Evidence: the score and the top contributing features.
struct OutlierModel: Sendable {
    static let featureCount = 6
    static let sampleMask: UInt32 = 7
    static let foldMicros: Int64 = 60_000_000
    static let recentItemSeconds: UInt32 = 300

    let threshold: Double
    let minEvents: Int
    let minStd: Double
    let minPopulation: Double
    let halfLifeMicros: Double
    let decayPerFold: Double
    /// Engine window indices the features read.
    let shortWindow: Int
    let fiveMinuteWindow: Int
    let halfHourWindow: Int
    let longWindow: Int
    /// log1p(n) for small n (counts are integers; saves a libm call per feature).
    private let log1pTable: [Double]

    private var weight = 0.0
    private var sum = SIMD8<Double>.zero
    private var squares = SIMD8<Double>.zero
    private var pendingWeight = 0.0
    private var pendingSum = SIMD8<Double>.zero
    private var pendingSquares = SIMD8<Double>.zero
    private var nextFold: Int64 = .min
    private(set) var mean = SIMD8<Double>.zero
    private(set) var inverseStd = SIMD8<Double>.zero
    private(set) var ready = false
    private var counter: UInt32 = 0
    /// Largest possible contribution of feature 5 (bounded: at most 8 recent items).
    private var distinctBound = 0.0

    init(config: EntityAlertConfig.Outlier, windowSeconds: [Int]) {
        threshold = config.threshold
        minEvents = config.minEvents
        minStd = config.minStd
        minPopulation = config.minPopulation
        halfLifeMicros = Double(max(1, config.halfLifeSeconds)) * 1_000_000
        decayPerFold = MathShim.exp(-0.693_147_180_559_945_3 * Double(Self.foldMicros) / halfLifeMicros)
        shortWindow = EntityDetector.nearestWindow(windowSeconds, to: 0)
        fiveMinuteWindow = EntityDetector.nearestWindow(windowSeconds, to: 300)
        halfHourWindow = EntityDetector.nearestWindow(windowSeconds, to: 1800)
        longWindow = EntityDetector.nearestWindow(windowSeconds, to: .max)
        log1pTable = (0..<256).map { MathShim.log1p(Double($0)) }
    }

    @inline(__always)
    private func log1p(_ n: Int) -> Double {
        n < log1pTable.count ? log1pTable[n] : MathShim.log1p(Double(n))
    }

    /// Raw counts of features 0–4 (feature 5 is filled in only when needed).
    @inline(__always)
    private func counts(_ c: WindowCounters) -> (Int, Int, Int, Int, Int) {
        (c.total(window: shortWindow), c.total(window: fiveMinuteWindow),
         c.count(window: fiveMinuteWindow, group: EventType.cart.windowGroup),
         c.count(window: halfHourWindow, group: EventType.checkout.windowGroup),
         c.count(window: longWindow, group: EventType.purchase.windowGroup))
    }

    /// Per-feature contributions (z⁺)² of a log-feature vector.
    @inline(__always)
    func contributions(_ x: SIMD8<Double>) -> SIMD8<Double> {
        let z = pointwiseMax((x - mean) * inverseStd, .zero)
        return z * z
    }

    /// Takes the user's state after an event: samples the population and, for an eligible user,
    /// returns the score and the raw feature counts when the score reaches the threshold.
    @inline(__always)
    mutating func observe(_ user: UserRecord, counters: WindowCounters, now: Int64)
        -> (score: Double, raw: SIMD8<Double>)?
    {
        counter &+= 1
        let sampled = counter & Self.sampleMask == 0
        let eligible = ready && counters.total(window: longWindow) >= minEvents
        guard sampled || eligible else { return nil }
        let c = counts(counters)
        var distinct = 0
        var x = SIMD8<Double>(log1p(c.0), log1p(c.1), log1p(c.2), log1p(c.3), log1p(c.4), 0, 0, 0)
        var score = 0.0
        if eligible { score = contributions(x).sum() }
        if sampled || (eligible && score + distinctBound >= threshold) {
            let seconds = UInt32(clamping: now / 1_000_000)
            distinct = user.distinctRecentItems(now: seconds, seconds: Self.recentItemSeconds)
            x = SIMD8<Double>(lowHalf: x.lowHalf, highHalf: SIMD4<Double>(log1p(distinct), 0, 0, 0))
            if eligible { score = contributions(x).sum() }
        }
        let raw = SIMD8<Double>(Double(c.0), Double(c.1), Double(c.2), Double(c.3), Double(c.4), Double(distinct), 0, 0)
        let flagged = eligible && score >= threshold
        if sampled {
            if !flagged {
                let w = 1 / Double(max(1, c.0))
                pendingWeight += w
                pendingSum += w * x
                pendingSquares += w * x * x
            }
            fold(now: now)
        }
        return flagged ? (score, raw) : nil
    }

    /// Folds the minute's samples into the decayed statistics once event time has passed it.
    @inline(__always)
    private mutating func fold(now: Int64) {
        if nextFold == .min {
            nextFold = now &+ Self.foldMicros
            return
        }
        guard now >= nextFold else { return }
        let periods = (now - nextFold) / Self.foldMicros + 1
        let decay = periods == 1
            ? decayPerFold
            : MathShim.exp(-0.693_147_180_559_945_3 * Double(periods * Self.foldMicros) / halfLifeMicros)
        weight = weight * decay + pendingWeight
        sum = sum * decay + pendingSum
        squares = squares * decay + pendingSquares
        pendingWeight = 0
        pendingSum = .zero
        pendingSquares = .zero
        nextFold &+= periods * Self.foldMicros
        guard weight > 0 else { return }
        mean = sum / weight
        let variance = pointwiseMax(squares / weight - mean * mean, .zero)
        var inverse = SIMD8<Double>.zero
        for f in 0..<Self.featureCount { inverse[f] = 1 / max(variance[f].squareRoot(), minStd) }
        inverseStd = inverse
        let top = log1p(UserRecord.ringSize)
        let z5 = max(0, (top - mean[5]) * inverseStd[5])
        distinctBound = z5 * z5
        ready = weight >= max(minPopulation, 1e-9)
    }

    /// Feature names for evidence (built only when an alert is emitted).
    static func featureNames(windowSeconds: [Int], model: OutlierModel) -> [String] {
        func w(_ i: Int) -> String { windowSeconds.indices.contains(i) ? "\(windowSeconds[i])s" : "window" }
        return [
            "events_\(w(model.shortWindow))", "events_\(w(model.fiveMinuteWindow))",
            "carts_\(w(model.fiveMinuteWindow))", "checkouts_\(w(model.halfHourWindow))",
            "purchases_\(w(model.longWindow))", "distinct_items_\(recentItemSeconds)s",
        ]
    }
}

extension OutlierModel: Codable {}
