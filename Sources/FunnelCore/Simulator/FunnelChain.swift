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

    /// P(purchase in (t, t+H]) from the landing state when the session's chain is `self`'s
    /// rates: the 4-transient-state chain landing → browse → carted → checkout.
    static func landingAbsorption(advance: SIMD4<Double>, leave: SIMD4<Double>, horizon: Double) -> Double {
        let view = landingRate * landingView
        let exit: SIMD4<Double> = [view + landingRate * landingLeave, advance[0] + leave[0],
                                   advance[1] + leave[1], advance[2] + leave[2]]
        let forward: SIMD4<Double> = [view, advance[0], advance[1], advance[2]]
        return absorption(exit: exit, forward: forward, states: 4, horizon: horizon)[0]
    }

    /// Row 0…2, column 3 of exp(Q·H) for the upper-bidiagonal generator
    /// Q[s][s] = −(advance_s + leave_s), Q[s][s+1] = advance_s (state 3 = purchased, absorbing).
    static func absorption(advance: SIMD4<Double>, leave: SIMD4<Double>, horizon: Double) -> SIMD4<Double> {
        var p = absorption(exit: advance + leave, forward: advance, states: 3, horizon: horizon)
        p[3] = 0
        return p
    }

    /// P(absorbed within `horizon`) from each of `states` (≤ 4) transient states of a chain that
    /// moves only forward: state s leaves at rate exit_s, to s+1 at rate forward_s (the rest ends
    /// the chain without absorption); state `states` is absorbing. That is the last column of
    /// exp(Q·H), Q[s][s] = −exit_s, Q[s][s+1] = forward_s.
    ///
    /// Scaling and squaring: exp(A) = exp(A/2^k)^(2^k) with ‖A/2^k‖ ≤ 1/4 and a degree-14 Taylor
    /// polynomial (truncation < 1e-18). Q·H is a sub-generator, so every squaring multiplies
    /// non-negative sub-stochastic matrices and loses no precision. Only the upper triangle is
    /// non-zero and only it is computed.
    static func absorption(exit: SIMD4<Double>, forward: SIMD4<Double>, states: Int, horizon: Double) -> SIMD4<Double> {
        let n = states + 1
        var a = Matrix5()
        var norm = 0.0
        for s in 0..<states {
            a[s, s] = -exit[s] * horizon
            a[s, s + 1] = forward[s] * horizon
            norm = max(norm, 2 * exit[s] * horizon)
        }
        var squarings = 0
        while norm > 0.25 {
            norm *= 0.5
            squarings += 1
        }
        a.scale(SimMath.scale(1, -squarings))
        // Horner: I + A(I + A/2(I + A/3(… (I + A/14)))).
        var e = Matrix5.identity
        var k = 14.0
        while k >= 1 {
            e = Matrix5.identity.adding(a.upperProduct(e, size: n), times: 1 / k)
            k -= 1
        }
        for _ in 0..<squarings { e = e.upperProduct(e, size: n) }
        var p = SIMD4<Double>.zero
        for s in 0..<states { p[s] = min(1, max(0, e[s, states])) }
        return p
    }
}

/// A 5×5 row-major matrix of which only the upper triangle is used (the chains' generators).
struct Matrix5: Sendable {
    var storage = SIMD32<Double>.zero

    static let identity: Matrix5 = {
        var m = Matrix5()
        for i in 0..<5 { m[i, i] = 1 }
        return m
    }()

    @inline(__always)
    subscript(row: Int, column: Int) -> Double {
        get { storage[row * 5 + column] }
        set { storage[row * 5 + column] = newValue }
    }

    mutating func scale(_ factor: Double) { storage *= factor }

    /// self + other · factor.
    func adding(_ other: Matrix5, times factor: Double) -> Matrix5 {
        Matrix5(storage: storage + other.storage * factor)
    }

    /// self · other for upper-triangular matrices of dimension `size`, upper triangle only.
    @inline(__always)
    func upperProduct(_ other: Matrix5, size: Int) -> Matrix5 {
        var r = Matrix5()
        for i in 0..<size {
            for j in i..<size {
                var sum = 0.0
                for k in i...j { sum += self[i, k] * other[k, j] }
                r[i, j] = sum
            }
        }
        return r
    }
}
