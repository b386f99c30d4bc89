/// Elementary functions for the simulator, written here rather than taken from the C library.
///
/// The simulator must produce identical bytes on every platform for the same seed. `exp` and
/// `log` from different libm implementations may differ in the last bit, which would change
/// sampled times and printed probabilities; these versions are plain Swift arithmetic and so
/// are reproducible everywhere. Both are accurate to a few ulps over the ranges used here.
enum SimMath {
    static let ln2 = 0.693_147_180_559_945_309_417_232_121_458
    static let ln2Hi = 6.931_471_803_691_238_164_90e-01
    static let ln2Lo = 1.908_214_929_270_587_700_02e-10

    /// e^x. Range reduction x = k·ln2 + r, |r| ≤ ln2/2, then a Taylor series on r
    /// (18 terms: the truncation error is below 1e-17 for |r| ≤ 0.35).
    @inline(__always)
    static func exp(_ x: Double) -> Double {
        if x.isNaN { return x }
        if x > 709.0 { return .infinity }
        if x < -745.0 { return 0 }
        let k = (x / ln2).rounded(.toNearestOrEven)
        let r = (x - k * ln2Hi) - k * ln2Lo
        var term = 1.0
        var sum = 1.0
        var n = 1.0
        while n <= 18 {
            term *= r / n
            sum += term
            n += 1
        }
        return scale(sum, Int(k))
    }

    /// Natural logarithm for x > 0: x = m·2^k with m in [√½, √2), log m = 2·atanh(s), s = (m−1)/(m+1).
    @inline(__always)
    static func log(_ x: Double) -> Double {
        if x.isNaN || x < 0 { return .nan }
        if x == 0 { return -.infinity }
        if x.isInfinite { return x }
        var k = Int(x.exponent)
        var m = x.significand  // in [1, 2)
        if m > 1.414_213_562_373_095_048_8 {
            m *= 0.5
            k += 1
        }
        let s = (m - 1) / (m + 1)
        let s2 = s * s
        var term = s
        var sum = s
        var d = 3.0
        while d <= 27 {
            term *= s2
            sum += term / d
            d += 2
        }
        return 2 * sum + Double(k) * ln2
    }

    /// x·2^k without overflow in the intermediate power.
    @inline(__always)
    static func scale(_ x: Double, _ k: Int) -> Double {
        Double(sign: .plus, exponent: k, significand: x)
    }
}
