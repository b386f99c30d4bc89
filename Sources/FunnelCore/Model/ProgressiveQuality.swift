/// Live quality of the conversion model, from resolved predictions only: cumulative, over the most
/// recent `window` resolutions, and per funnel step the user was at when scored.
///
/// A plain value: funnel snapshots, metrics and summary.json read it as it is.
public struct ProgressiveQuality: Sendable, Equatable {
    public let threshold: Double
    public let stepNames: [String]
    public private(set) var all = QualityAccumulator()
    public private(set) var recent = QualityAccumulator()
    public private(set) var byStep: [QualityAccumulator]
    /// Ring of the recent window's entries as they entered `recent` (Float-rounded score, label,
    /// and their logarithm terms), so taking the oldest back out costs no logarithm.
    private var ring: [QualityAccumulator.Resolved]
    private var ringNext = 0
    private var ringCount = 0

    public init(threshold: Double, window: Int, stepNames: [String]) {
        self.threshold = threshold
        self.stepNames = stepNames
        byStep = Array(repeating: QualityAccumulator(), count: stepNames.count)
        ring = Array(repeating: .init(score: 0, label: false), count: max(1, window))
    }

    public var window: Int { ring.count }

    public mutating func record(score: Double, label: Bool, step: Int) {
        let resolved = QualityAccumulator.Resolved(score: score, label: label)
        all.add(resolved, threshold: threshold)
        if step >= 0 && step < byStep.count { byStep[step].add(resolved, threshold: threshold) }
        if ringCount == ring.count {
            recent.add(ring[ringNext], threshold: threshold, sign: -1)
        } else {
            ringCount += 1
        }
        // The window keeps the Float-rounded score (what a checkpoint saves), so a restored
        // window takes out exactly what the original put in.
        let windowed = QualityAccumulator.Resolved(score: Double(Float(score)), label: label)
        ring[ringNext] = windowed
        recent.add(windowed, threshold: threshold)
        ringNext = (ringNext + 1) % ring.count
    }
}

/// Saved as the ring of (Float score, label) it always was; the logarithm terms are worked out again.
extension ProgressiveQuality: Codable {
    enum CodingKeys: String, CodingKey {
        case threshold, stepNames, all, recent, byStep, ringScores, ringLabels, ringNext, ringCount
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        threshold = try c.decode(Double.self, forKey: .threshold)
        stepNames = try c.decode([String].self, forKey: .stepNames)
        all = try c.decode(QualityAccumulator.self, forKey: .all)
        recent = try c.decode(QualityAccumulator.self, forKey: .recent)
        byStep = try c.decode([QualityAccumulator].self, forKey: .byStep)
        let ringScores = try c.decode([Float].self, forKey: .ringScores)
        let ringLabels = try c.decode([Bool].self, forKey: .ringLabels)
        ringNext = try c.decode(Int.self, forKey: .ringNext)
        ringCount = try c.decode(Int.self, forKey: .ringCount)
        guard !ringScores.isEmpty, ringLabels.count == ringScores.count,
              (0..<ringScores.count).contains(ringNext), (0...ringScores.count).contains(ringCount)
        else {
            throw DecodingError.dataCorruptedError(forKey: .ringScores, in: c,
                                                   debugDescription: "inconsistent quality window")
        }
        ring = zip(ringScores, ringLabels).map { .init(score: Double($0), label: $1) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(threshold, forKey: .threshold)
        try c.encode(stepNames, forKey: .stepNames)
        try c.encode(all, forKey: .all)
        try c.encode(recent, forKey: .recent)
        try c.encode(byStep, forKey: .byStep)
        try c.encode(ring.map { Float($0.score) }, forKey: .ringScores)
        try c.encode(ring.map(\.label), forKey: .ringLabels)
        try c.encode(ringNext, forKey: .ringNext)
        try c.encode(ringCount, forKey: .ringCount)
    }
}
