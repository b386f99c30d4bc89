/// The per-session absorbing Markov chain that drives ordinary shoppers, and the exact
/// purchase probability it implies.
///
/// Transient stages 0 browse, 1 carted, 2 checkout; absorbing purchased and left. In stage s
/// the time to the next jump is exponential with total rate Λ_s; a jump is a *stay* (another
/// event of the same stage: more views, a second cart add, a checkout page), an *advance*
/// (cart, checkout, purchase event) or a *leave* (no event; the session ends). Sessions that land
/// on a page or a search start one state earlier, in *landing* (see ``landingAbsorption``).
///
/// Stays do not change the stage and the holding time is memoryless, so from any event in
/// stage s the chance of a purchase within H is the (s, purchased) entry of exp(Q·H), with Q
/// the generator restricted to advance and leave rates. Rates are fixed for the whole session
/// (they depend only on what the stream shows by the session's first product view), and a
/// user's next session starts more than H after the previous one ended, so this entry is
/// exactly `truth.p`.
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
        let (advance, leave) = FunnelChain.rates(multipliers: multipliers, drop: drop)
        var total = SIMD4<Double>.zero
        for s in 0..<3 {
            let lambda = 1 / (FunnelChain.meanHoldSeconds[s] * 1000)
            let stay = lambda * max(0, 1 - FunnelChain.baseAdvance[s] - FunnelChain.baseLeave[s])
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

    /// Advance and leave rates per stage (per millisecond; index 3 zero).
    static func rates(multipliers: SIMD4<Double>, drop: SIMD4<Double>) -> (advance: SIMD4<Double>, leave: SIMD4<Double>) {
        var advance = SIMD4<Double>.zero
        var leave = SIMD4<Double>.zero
        for s in 0..<3 {
            let lambda = 1 / (FunnelChain.meanHoldSeconds[s] * 1000)
            let rawAdvance = lambda * FunnelChain.baseAdvance[s] * multipliers[s]
            advance[s] = rawAdvance * (1 - drop[s])
            leave[s] = lambda * FunnelChain.baseLeave[s] + rawAdvance * drop[s]
        }
        return (advance, leave)
    }

    // MARK: - Landing (before the session's first product view)

    /// A session that lands on a page or a search (organic, direct) has not shown its product
    /// yet. In that state a jump is a stay (another page or search), the first product view
    /// (which is always the session's target and moves it to browse) or a leave; nothing in it
    /// depends on the product, so the stream's history says nothing about the product until the
    /// view. Mean holding time in seconds and jump-type probabilities:
    static let landingHoldSeconds = 25.0
    static let landingView = 0.5
    static let landingLeave = 0.11
    static var landingRate: Double { 1 / (landingHoldSeconds * 1000) }

    /// P(purchase in (t, t+H]) from the landing state, given the browse, carted and checkout
    /// stages' advance and leave rates: the same absorption for the chain landing → browse →
    /// carted → checkout → purchased.
    ///
    /// By uniformization (Jensen's method): with Λ ≥ every exit rate, P = I + Q/Λ is a
    /// non-negative sub-stochastic matrix and v·exp(Q·t) = Σ_k Poisson(k; Λt)·v·Pᵏ. Every term is
    /// non-negative, so nothing cancels; the sum runs to 12 standard deviations past Λt (the
    /// rest is below 1e-30), in steps of t with Λt ≤ 200 so e^(−Λt) does not underflow. P is
    /// bidiagonal, so a term costs a few multiplications: this runs once per category for each
    /// new landing key, where a matrix exponential per category was too slow.
    static func landingAbsorption(advance: SIMD4<Double>, leave: SIMD4<Double>, horizon: Double) -> Double {
        let view = landingRate * landingView
        // Transient states 0 landing, 1 browse, 2 carted, 3 checkout; then purchased.
        let exit: SIMD4<Double> = [view + landingRate * landingLeave, advance[0] + leave[0],
                                   advance[1] + leave[1], advance[2] + leave[2]]
        let forward: SIMD4<Double> = [view, advance[0], advance[1], advance[2]]
        let lambda = exit.max()
        guard lambda > 0, horizon > 0 else { return 0 }
        let stay = 1 - exit / lambda
        let move = forward / lambda
        let steps = max(1, Int((lambda * horizon / 200).rounded(.up)))
        let mean = lambda * horizon / Double(steps)
        let terms = Int((mean + 12 * mean.squareRoot() + 30).rounded(.up))
        var mass = SIMD4<Double>(1, 0, 0, 0)
        var absorbed = 0.0
        for _ in 0..<steps {
            var term = mass
            var termAbsorbed = absorbed
            var weight = SimMath.exp(-mean)
            var nextMass = term * weight
            var nextAbsorbed = termAbsorbed * weight
            for k in 1...terms {
                let moved = term * move
                termAbsorbed += moved[3]
                term = term * stay + SIMD4(0, moved[0], moved[1], moved[2])
                weight *= mean / Double(k)
                nextMass += term * weight
                nextAbsorbed += termAbsorbed * weight
            }
            mass = nextMass
            absorbed = nextAbsorbed
        }
        return min(1, max(0, absorbed))
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
