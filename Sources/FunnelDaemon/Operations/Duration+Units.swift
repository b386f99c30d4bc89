/// A `Duration` in the units logs, metrics and rates use (the daemon spelled these conversions
/// out at each use).
extension Duration {
    /// In seconds, fractional.
    var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// In whole nanoseconds (rounded down).
    var inNanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }

    /// In whole milliseconds (rounded down).
    var inMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
