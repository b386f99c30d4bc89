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

    public init(threshold: Double, window: Int, stepNames: [String]) {
        self.threshold = threshold
        self.stepNames = stepNames
        byStep = Array(repeating: QualityAccumulator(), count: stepNames.count)
        ringScores = Array(repeating: 0, count: max(1, window))
        ringLabels = Array(repeating: false, count: max(1, window))
    }

    public var window: Int { ringScores.count }

    public mutating func record(score: Double, label: Bool, step: Int) {
        all.add(score: score, label: label, threshold: threshold)
        if step >= 0 && step < byStep.count { byStep[step].add(score: score, label: label, threshold: threshold) }
        if ringCount == ringScores.count {
            recent.add(score: Double(ringScores[ringNext]), label: ringLabels[ringNext], threshold: threshold, sign: -1)
        } else {
            ringCount += 1
        }
        let stored = Float(score)
        ringScores[ringNext] = stored
        ringLabels[ringNext] = label
        // The window stores the Float-rounded score so adding and removing cancel exactly.
        recent.add(score: Double(stored), label: label, threshold: threshold)
        ringNext = (ringNext + 1) % ringScores.count
    }
}

extension ProgressiveQuality: Codable {}
