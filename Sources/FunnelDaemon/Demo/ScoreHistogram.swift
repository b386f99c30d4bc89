/// Counts of conversion scores in fixed bins, for the demo's score panel.
///
/// Bins are uneven on purpose: purchase probabilities are skewed towards zero (a few percent of
/// events lead to a purchase), so equal-width bins would put nearly everything in the first bar.
public struct ScoreHistogram: Sendable, Equatable {
    /// Bin edges; bin `i` is `[edges[i], edges[i + 1])`, the last bin also holds 1.0.
    public static let edges: [Double] = [0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]

    public private(set) var counts: [Int]
    public private(set) var total = 0
    private var sum = 0.0

    public init() {
        counts = Array(repeating: 0, count: Self.edges.count - 1)
    }

    public init<S: Sequence<Double>>(_ scores: S) {
        self.init()
        for score in scores { add(score) }
    }

    /// Adds one score; values outside [0, 1] go to the nearest end bin, NaN is ignored
    /// (a score record is produced by the daemon, but the view must not trust the wire).
    public mutating func add(_ score: Double) {
        guard !score.isNaN else { return }
        let value = min(1, max(0, score))
        var bin = counts.count - 1
        for index in 0..<(counts.count - 1) where value < Self.edges[index + 1] {
            bin = index
            break
        }
        counts[bin] += 1
        total += 1
        sum += value
    }

    /// Adds another histogram's counts (the reader merges per-batch histograms into the board's).
    public mutating func merge(_ other: ScoreHistogram) {
        for index in counts.indices { counts[index] += other.counts[index] }
        total += other.total
        sum += other.sum
    }

    public var mean: Double? { total > 0 ? sum / Double(total) : nil }

    /// One line per bin: range, count, a bar scaled to the fullest bin, share of all scores.
    public func lines(barWidth: Int = 30) -> [String] {
        let largest = counts.max() ?? 0
        let countWidth = max(5, String(counts.max() ?? 0).count)
        return counts.indices.map { index in
            let low = Self.edges[index]
            let high = Self.edges[index + 1]
            let closing = index == counts.count - 1 ? "]" : ")"
            let range = "[\(DemoFormat.fixed(low, 2)), \(DemoFormat.fixed(high, 2))\(closing)"
            let count = counts[index]
            let length = largest > 0 ? Int((Double(count) / Double(largest) * Double(barWidth)).rounded()) : 0
            let bar = String(repeating: "█", count: length) + String(repeating: " ", count: barWidth - length)
            let share = total > 0 ? DemoFormat.percent(Double(count) / Double(total)) : "-"
            return "\(DemoFormat.pad(range, 13)) \(DemoFormat.padLeft(String(count), countWidth)) \(bar) "
                + DemoFormat.padLeft(share, 6)
        }
    }
}
