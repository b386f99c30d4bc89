/// Progressive-validation metrics of resolved predictions: AUC from binned score histograms per
/// label, log loss, calibration (mean score vs positive rate) and precision/recall/F1 at a threshold.
///
/// Scores are binned on the logit scale (``bins`` bins over logit −12…+6), where conversion scores
/// spread out; AUC counts pairs in the same bin as ties (½), as the exact statistic does for ties.
public struct QualityAccumulator: Sendable, Equatable {
    public static let bins = 2048
    static let logitLow = -12.0
    static let logitHigh = 6.0

    public private(set) var count = 0
    public private(set) var positives = 0
    public private(set) var sumScore = 0.0
    public private(set) var sumLogLoss = 0.0
    public private(set) var truePositives = 0
    public private(set) var falsePositives = 0
    private var positiveBins: [Int32]
    private var negativeBins: [Int32]

    public init() {
        positiveBins = Array(repeating: 0, count: Self.bins)
        negativeBins = Array(repeating: 0, count: Self.bins)
    }

    @inline(__always)
    public static func bin(_ p: Double) -> Int {
        let q = min(max(p, 1e-15), 1 - 1e-15)
        let z = MathShim.logit(q)
        let x = (z - logitLow) / (logitHigh - logitLow) * Double(bins)
        return min(max(Int(x), 0), bins - 1)
    }

    /// One resolved prediction with what the metrics derive from it (two logarithms), worked out
    /// once for all the accumulators it enters and kept by a sliding window to take it back out.
    public struct Resolved: Sendable, Equatable {
        public let score: Double
        public let label: Bool
        /// ln of the probability given to the outcome (≤ 0).
        let logLikelihood: Double
        let bin: Int

        public init(score p: Double, label: Bool) {
            let q = min(max(p, 1e-15), 1 - 1e-15)
            score = p
            self.label = label
            logLikelihood = label ? MathShim.log(q) : MathShim.log(1 - q)
            bin = QualityAccumulator.bin(p)
        }
    }

    /// Adds (`sign` = 1) or removes (`sign` = −1, for sliding windows) one resolved prediction.
    public mutating func add(score p: Double, label: Bool, threshold: Double, sign: Int = 1) {
        add(Resolved(score: p, label: label), threshold: threshold, sign: sign)
    }

    @inline(__always)
    public mutating func add(_ r: Resolved, threshold: Double, sign: Int = 1) {
        let (p, label, b) = (r.score, r.label, r.bin)
        count += sign
        sumScore += Double(sign) * p
        sumLogLoss -= Double(sign) * r.logLikelihood
        if label {
            positives += sign
            positiveBins[b] += Int32(sign)
            if p >= threshold { truePositives += sign }
        } else {
            negativeBins[b] += Int32(sign)
            if p >= threshold { falsePositives += sign }
        }
    }

    public var negatives: Int { count - positives }

    /// Area under the ROC curve; nil until both labels are present.
    public var auc: Double? {
        guard positives > 0, negatives > 0 else { return nil }
        var negativesBelow = 0.0
        var pairs = 0.0
        for b in 0..<Self.bins {
            let pos = Double(positiveBins[b])
            let neg = Double(negativeBins[b])
            pairs += pos * (negativesBelow + 0.5 * neg)
            negativesBelow += neg
        }
        return pairs / (Double(positives) * Double(negatives))
    }

    public var logLoss: Double? { count > 0 ? sumLogLoss / Double(count) : nil }
    public var meanScore: Double? { count > 0 ? sumScore / Double(count) : nil }
    public var positiveRate: Double? { count > 0 ? Double(positives) / Double(count) : nil }
    public var precision: Double? {
        let flagged = truePositives + falsePositives
        return flagged > 0 ? Double(truePositives) / Double(flagged) : nil
    }
    public var recall: Double? { positives > 0 ? Double(truePositives) / Double(positives) : nil }
    public var f1: Double? {
        guard let p = precision, let r = recall, p + r > 0 else { return nil }
        return 2 * p * r / (p + r)
    }
}

extension QualityAccumulator: Codable {}
