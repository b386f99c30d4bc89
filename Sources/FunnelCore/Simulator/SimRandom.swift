/// The project's random number generator (simulator, mutated-record streams): xoshiro256**
/// seeded through splitmix64.
///
/// Own implementation (not `SystemRandomNumberGenerator`) so that a seed fixes the stream
/// exactly, on every platform and Swift version. Holds no references: copying it forks the
/// stream, which the simulator never does by accident because it lives in one struct.
public struct SimRandom: Sendable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    public init(seed: UInt64) {
        var x = seed
        func splitmix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9e37_79b9_7f4a_7c15
            var z = x
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        s0 = splitmix(&x)
        s1 = splitmix(&x)
        s2 = splitmix(&x)
        s3 = splitmix(&x)
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }  // the all-zero state is a fixed point
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func uniform() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// Uniform integer in [0, n) (Lemire's multiply-shift; the bias is below 2^-32 for the n used here).
    @inline(__always)
    public mutating func below(_ n: Int) -> Int {
        Int(truncatingIfNeeded: (next().multipliedFullWidth(by: UInt64(n))).high)
    }

    /// Exponential variate with the given rate (mean 1/rate).
    @inline(__always)
    mutating func exponential(rate: Double) -> Double {
        -SimMath.log(1 - uniform()) / rate
    }

    /// Standard normal variate (Marsaglia's polar method; needs only log and square root).
    mutating func normal() -> Double {
        while true {
            let u = 2 * uniform() - 1
            let v = 2 * uniform() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 {
                return u * (-2 * SimMath.log(s) / s).squareRoot()
            }
        }
    }

    /// Index drawn from a cumulative table (last entry 1): the first i with u < cdf[i].
    @inline(__always)
    mutating func pick(_ cdf: [Double]) -> Int {
        let u = uniform()
        var lo = 0
        var hi = cdf.count - 1
        while lo < hi {
            let mid = (lo + hi) >> 1
            if u < cdf[mid] { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}
