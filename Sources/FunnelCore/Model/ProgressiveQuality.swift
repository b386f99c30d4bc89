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
    /// Ring of the recent window's (score, label), to take the oldest back out.
    private var ringScores: [Float]
    private var ringLabels: [Bool]
    private var ringNext = 0
    private var ringCount = 0
    /// The ring's entries as they entered `recent`, so taking one out costs no logarithm. Derived
    /// from the ring (not saved): a checkpoint rebuilds it.
    private var ringResolved: [QualityAccumulator.Resolved]

    public init(threshold: Double, window: Int, stepNames: [String]) {
        self.threshold = threshold
        self.stepNames = stepNames
        byStep = Array(repeating: QualityAccumulator(), count: stepNames.count)
        ringScores = Array(repeating: 0, count: max(1, window))
        ringLabels = Array(repeating: false, count: max(1, window))
        ringResolved = Array(repeating: .init(score: 0, label: false), count: max(1, window))
    }

    public var window: Int { ringScores.count }

    public mutating func record(score: Double, label: Bool, step: Int) {
        let resolved = QualityAccumulator.Resolved(score: score, label: label)
        all.add(resolved, threshold: threshold)
        if step >= 0 && step < byStep.count { byStep[step].add(resolved, threshold: threshold) }
        if ringCount == ringScores.count {
            recent.add(ringResolved[ringNext], threshold: threshold, sign: -1)
        } else {
            ringCount += 1
        }
        let stored = Float(score)
        ringScores[ringNext] = stored
        ringLabels[ringNext] = label
        // The window keeps the Float-rounded score so adding and removing cancel exactly.
        let windowed = QualityAccumulator.Resolved(score: Double(stored), label: label)
        ringResolved[ringNext] = windowed
        recent.add(windowed, threshold: threshold)
        ringNext = (ringNext + 1) % ringScores.count
    }
}

/// Saved as the ring of (score, label) it always was; the resolved terms are worked out again.
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
        ringScores = try c.decode([Float].self, forKey: .ringScores)
        ringLabels = try c.decode([Bool].self, forKey: .ringLabels)
        ringNext = try c.decode(Int.self, forKey: .ringNext)
        ringCount = try c.decode(Int.self, forKey: .ringCount)
        guard !ringScores.isEmpty, ringLabels.count == ringScores.count,
              (0..<ringScores.count).contains(ringNext), (0...ringScores.count).contains(ringCount)
        else {
            throw DecodingError.dataCorruptedError(forKey: .ringScores, in: c,
                                                   debugDescription: "inconsistent quality window")
        }
        ringResolved = zip(ringScores, ringLabels).map { .init(score: Double($0), label: $1) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(threshold, forKey: .threshold)
        try c.encode(stepNames, forKey: .stepNames)
        try c.encode(all, forKey: .all)
        try c.encode(recent, forKey: .recent)
        try c.encode(byStep, forKey: .byStep)
        try c.encode(ringScores, forKey: .ringScores)
        try c.encode(ringLabels, forKey: .ringLabels)
        try c.encode(ringNext, forKey: .ringNext)
        try c.encode(ringCount, forKey: .ringCount)
    }
}
