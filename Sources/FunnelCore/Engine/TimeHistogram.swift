/// Log-scale histogram of durations in seconds: 4 buckets per doubling, 64 buckets (to ~2^16 s).
enum TimeHistogram {
    static let buckets = 64

    @inline(__always)
    static func bucket(seconds: Double) -> Int {
        guard seconds > 0 else { return 0 }
        let b = Int((4 * log2Approx(1 + seconds)).rounded(.down))
        return min(max(b, 0), buckets - 1)
    }

    /// Upper edge of a bucket, the value reported for percentiles falling into it.
    static func upperEdge(_ bucket: Int) -> Double {
        exp2(Double(bucket + 1) / 4) - 1
    }

    static func percentiles(_ counts: UnsafeBufferPointer<UInt32>) -> TimeToConvert? {
        var total = 0
        for c in counts { total += Int(c) }
        guard total > 0 else { return nil }
        func quantile(_ q: Double) -> Double {
            let rank = max(1, Int((q * Double(total)).rounded(.up)))
            var seen = 0
            for (i, c) in counts.enumerated() {
                seen += Int(c)
                if seen >= rank { return (upperEdge(i) * 1000).rounded() / 1000 }
            }
            return upperEdge(counts.count - 1)
        }
        return TimeToConvert(count: total, p50: quantile(0.5), p90: quantile(0.9), p99: quantile(0.99))
    }

    @inline(__always)
    static func log2Approx(_ x: Double) -> Double {
        // Exact enough for bucketing: exponent plus a 2nd-order mantissa correction would drift;
        // use the exact significand with a short series instead.
        let e = x.exponent
        let m = x.significand  // [1, 2)
        return Double(e) + log2Mantissa(m)
    }

    @inline(__always)
    static func log2Mantissa(_ m: Double) -> Double {
        // log2(m) for m in [1,2) via atanh series: ln(m) = 2·atanh((m-1)/(m+1)).
        let t = (m - 1) / (m + 1)
        let t2 = t * t
        let ln = 2 * t * (1 + t2 / 3 + t2 * t2 / 5 + t2 * t2 * t2 / 7 + t2 * t2 * t2 * t2 / 9)
        return ln * 1.4426950408889634
    }

    static func exp2(_ x: Double) -> Double {
        let whole = x.rounded(.down)
        let frac = x - whole
        // 2^frac via e^(frac·ln2) series; frac in [0,1).
        let y = frac * 0.6931471805599453
        var term = 1.0
        var sum = 1.0
        for k in 1...12 {
            term *= y / Double(k)
            sum += term
        }
        return Double(sign: .plus, exponent: Int(whole), significand: sum)
    }
}
