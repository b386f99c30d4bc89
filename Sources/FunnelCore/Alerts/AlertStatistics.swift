/// Statistics shared by the detectors.
public enum AlertStatistics {
    /// Poisson z-score of an observed count against an expected one (normal approximation with
    /// continuity correction); 0 when nothing is expected.
    public static func poissonZ(observed: Double, expected: Double) -> Double {
        guard expected > 0 else { return 0 }
        let corrected = observed < expected ? observed + 0.5 : max(expected, observed - 0.5)
        return (corrected - expected) / expected.squareRoot()
    }
}
