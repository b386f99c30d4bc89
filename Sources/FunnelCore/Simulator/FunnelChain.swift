/// The per-session absorbing Markov chain that drives ordinary shoppers, and the exact
/// purchase probability it implies.
///
/// Transient stages 0 browse, 1 carted, 2 checkout; absorbing purchased and left. In stage s
/// the time to the next jump is exponential with total rate Λ_s; a jump is a *stay* (another
/// event of the same stage: more views, a second cart add, a checkout page), an *advance*
/// (cart, checkout, purchase event) or a *leave* (no event; the session ends).
///
/// Stays do not change the stage and the holding time is memoryless, so from any event in
/// stage s the chance of a purchase within H is the (s, purchased) entry of exp(Q·H), with Q
/// the generator restricted to advance and leave rates. Rates are fixed for the whole session
/// (they depend only on what is known at its start), and a user's next session starts more than
/// H after the previous one ended, so this entry is exactly `truth.p`.
struct FunnelChain: Sendable {
    /// Total jump rate per stage, per millisecond (index 3 unused).
    var totalRate: SIMD4<Double>
    /// P(advance | jump) per stage.
    var advanceProbability: SIMD4<Double>
    /// P(advance or leave | jump) per stage; the rest of the unit interval is a stay.
    var endProbability: SIMD4<Double>
    /// Exact P(purchase in (t, t+H]) from an event in each stage.
    var purchaseWithinHorizon: SIMD4<Double>

    /// Mean holding time per stage in seconds, and base jump-type probabilities.
    static let meanHoldSeconds: SIMD4<Double> = [25, 40, 50, 1]
    static let baseAdvance: SIMD4<Double> = [0.0035, 0.22, 0.45, 0]
    static let baseLeave: SIMD4<Double> = [0.11, 0.13, 0.16, 0]

    /// - Parameters:
    ///   - multipliers: factor on each stage's base advance rate (observables × latent intent).
    ///   - drop: fraction of each stage's advance rate moved to leaving (conversion-drop incidents).
    ///   - horizonMillis: H.
    init(multipliers: SIMD4<Double>, drop: SIMD4<Double>, horizonMillis: Double) {
        var advance = SIMD4<Double>.zero
        var leave = SIMD4<Double>.zero
        var total = SIMD4<Double>.zero
        for s in 0..<3 {
            let lambda = 1 / (FunnelChain.meanHoldSeconds[s] * 1000)
            let stay = lambda * max(0, 1 - FunnelChain.baseAdvance[s] - FunnelChain.baseLeave[s])
            let rawAdvance = lambda * FunnelChain.baseAdvance[s] * multipliers[s]
            advance[s] = rawAdvance * (1 - drop[s])
            leave[s] = lambda * FunnelChain.baseLeave[s] + rawAdvance * drop[s]
            total[s] = stay + advance[s] + leave[s]
        }
        totalRate = total
        advanceProbability = advance / total
        endProbability = (advance + leave) / total
        advanceProbability[3] = 0
        endProbability[3] = 1
        totalRate[3] = 1
        purchaseWithinHorizon = FunnelChain.absorption(advance: advance, leave: leave, horizon: horizonMillis)
    }

    /// Row 0…2, column 3 of exp(Q·H) for the upper-bidiagonal generator
    /// Q[s][s] = −(advance_s + leave_s), Q[s][s+1] = advance_s (state 3 = purchased, absorbing).
    ///
    /// Scaling and squaring: exp(A) = exp(A/2^k)^(2^k) with ‖A/2^k‖ ≤ 1/4 and a degree-14 Taylor
    /// polynomial (truncation < 1e-18). Q·H is a sub-generator, so every squaring multiplies
    /// non-negative sub-stochastic matrices and loses no precision. Only the upper triangle is
    /// non-zero and only it is computed.
    static func absorption(advance: SIMD4<Double>, leave: SIMD4<Double>, horizon: Double) -> SIMD4<Double> {
        var a = SIMD16<Double>.zero
        var norm = 0.0
        for s in 0..<3 {
            let out = advance[s] + leave[s]
            a[s * 4 + s] = -out * horizon
            a[s * 4 + s + 1] = advance[s] * horizon
            norm = max(norm, 2 * out * horizon)
        }
        var squarings = 0
        while norm > 0.25 {
            norm *= 0.5
            squarings += 1
        }
        let scale = SimMath.scale(1, -squarings)
        a *= scale
        let identity: SIMD16<Double> = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
        // Horner: I + A(I + A/2(I + A/3(… (I + A/14)))).
        var e = identity
        var k = 14.0
        while k >= 1 {
            e = identity + multiplyUpper(a, e) * (1 / k)
            k -= 1
        }
        for _ in 0..<squarings { e = multiplyUpper(e, e) }
        var p = SIMD4<Double>.zero
        for s in 0..<3 { p[s] = min(1, max(0, e[s * 4 + 3])) }
        return p
    }

    /// Product of two upper-triangular 4×4 matrices (row-major), upper triangle only.
    @inline(__always)
    static func multiplyUpper(_ x: SIMD16<Double>, _ y: SIMD16<Double>) -> SIMD16<Double> {
        var r = SIMD16<Double>.zero
        for i in 0..<4 {
            for j in i..<4 {
                var sum = 0.0
                for k in i...j { sum += x[i * 4 + k] * y[k * 4 + j] }
                r[i * 4 + j] = sum
            }
        }
        return r
    }
}
