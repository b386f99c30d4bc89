/// The observable dimensions of simulated traffic and how each moves conversion.
///
/// Every factor here multiplies an advance rate of ``FunnelChain`` and depends only on things
/// a model can see in the stream (device, channel, hour of day the session started, the category
/// of its product and that category's price level, the user's earlier sessions and purchases).
/// With `latent_intent_sigma` above 0 a per-user intent the stream never shows multiplies them too.
enum ShopperModel {
    static let deviceNames: [StaticString] = ["mobile", "desktop", "tablet", "app"]
    static let deviceCDF: [Double] = [0.45, 0.75, 0.83, 1.0]
    /// Browse→cart factor per device (small screens browse more and buy less).
    static let deviceBrowseFactor: [Double] = [0.75, 1.25, 1.0, 1.5]
    /// Cart→checkout and checkout→purchase factor per device (checkout friction).
    static let deviceCheckoutFactor: [Double] = [0.8, 1.1, 0.95, 1.2]
    /// User-agent id ranges per device: mobile 0–79, desktop 80–139, tablet 140–169, app 170–199.
    static let userAgentBase: [Int] = [0, 80, 140, 170]
    static let userAgentCount: [Int] = [80, 60, 30, 30]

    static let channelNames: [StaticString] = ["organic", "paid_search", "social", "email", "direct"]
    static let channelCDF: [Double] = [0.35, 0.55, 0.70, 0.80, 1.0]
    static let channelFactor: [Double] = [1.0, 1.3, 0.55, 1.6, 1.2]

    /// Relative session-arrival intensity by UTC hour (night low, evening high), mean 1.
    static let trafficByHour: [Double] = {
        let raw: [Double] = [
            0.35, 0.22, 0.15, 0.12, 0.12, 0.18, 0.35, 0.6, 0.85, 1.0, 1.05, 1.1,
            1.15, 1.1, 1.05, 1.05, 1.1, 1.25, 1.5, 1.75, 1.85, 1.65, 1.2, 0.7,
        ]
        let mean = raw.reduce(0, +) / Double(raw.count)
        return raw.map { $0 / mean }
    }()
    static let trafficPeak: Double = trafficByHour.reduce(0) { max($0, $1) }

    /// Browse→cart factor by the UTC hour a session starts (evening shoppers are more decided).
    static let conversionByHour: [Double] = [
        0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.9, 0.9, 0.9, 1.0, 1.0, 1.0,
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2, 1.2, 1.2, 1.2, 1.2, 1.0,
    ]

    /// The first hour with the same `conversionByHour` factor as each hour: hours that set the
    /// same rates share one landing probability.
    static let representativeHour: [Int] = (0..<24).map { hour in
        conversionByHour.firstIndex(of: conversionByHour[hour]) ?? hour
    }

    /// Traffic intensity at an absolute time, linearly interpolated between hour centres so the
    /// arrival rate has no jumps.
    @inline(__always)
    static func traffic(atEpochMillis t: Int64) -> Double {
        let hourPosition = Double(((t % 86_400_000) + 86_400_000) % 86_400_000) / 3_600_000 - 0.5
        let floorHour = hourPosition.rounded(.down)
        let weight = hourPosition - floorHour
        let h0 = (Int(floorHour) + 24) % 24
        let h1 = (h0 + 1) % 24
        return trafficByHour[h0] * (1 - weight) + trafficByHour[h1] * weight
    }

    @inline(__always)
    static func hour(ofEpochMillis t: Int64) -> Int {
        Int(((t % 86_400_000) + 86_400_000) % 86_400_000 / 3_600_000)
    }

    /// Price factor: dearer categories convert less; (price/30)^−0.35, bounded to [0.4, 2.5].
    @inline(__always)
    static func priceFactor(_ price: Double) -> Double {
        min(2.5, max(0.4, SimMath.exp(-0.35 * SimMath.log(price / 30))))
    }

    /// The 16 equally likely values of a user's latent intent for `latent_intent_sigma` σ:
    /// exp(σ·z_k) scaled to mean 1, z_k the probability midpoints of 16 equal-probability bins of
    /// the standard normal (all 1 when σ is 0). A few levels keep the landing probabilities to a
    /// few per rate key.
    static func intents(sigma: Double) -> [Float] {
        guard sigma > 0 else { return [Float](repeating: 1, count: intentMidpoints.count) }
        var mean = 0.0
        for m in intentMidpoints { mean += SimMath.exp(sigma * m) }
        mean /= Double(intentMidpoints.count)
        return intentMidpoints.map { Float(SimMath.exp(sigma * $0) / mean) }
    }

    /// Which of ``intents(sigma:)`` a standard normal draw `z` picks: the bin it falls in.
    static func intentLevel(normal z: Double) -> Int {
        intentBinBounds.firstIndex { z < $0 } ?? intentBinBounds.count
    }

    /// Φ⁻¹((k + ½)/16) and Φ⁻¹(k/16).
    static let intentMidpoints: [Double] = [
        -1.862731867422, -1.318010897304, -1.00999016925, -0.776421761148, -0.579132162256, -0.402250065322,
        -0.237202109329, -0.078412412733, 0.078412412733, 0.237202109329, 0.402250065322, 0.579132162256,
        0.776421761148, 1.00999016925, 1.318010897304, 1.862731867422,
    ]
    static let intentBinBounds: [Double] = [
        -1.534120544353, -1.150349380376, -0.887146559019, -0.674489750196, -0.488776411115, -0.318639363964,
        -0.15731068461, 0, 0.15731068461, 0.318639363964, 0.488776411115, 0.674489750196, 0.887146559019,
        1.150349380376, 1.534120544353,
    ]

    /// Advance-rate multipliers for the three stages of a session.
    @inline(__always)
    static func multipliers(
        scale: Double, device: Int, channel: Int, hour: Int, priorSessions: Int, priorPurchases: Int,
        categoryFactor: Double, price: Double, intent: Double
    ) -> SIMD4<Double> {
        let loyalty = (1 + 0.06 * Double(min(priorSessions, 10))) * (1 + 0.5 * Double(min(priorPurchases, 3)))
        let browse =
            scale * deviceBrowseFactor[device] * channelFactor[channel] * conversionByHour[hour] * loyalty
            * categoryFactor * priceFactor(price) * intent
        let intentRoot = intent.squareRoot()
        let cart = deviceCheckoutFactor[device] * priceFactor(price).squareRoot() * intentRoot
        let checkout = deviceCheckoutFactor[device] * intentRoot
        return [browse, cart, checkout, 0]
    }

    /// Index of a device or channel name, nil when the name is not simulated.
    static func index(of name: String, in names: [StaticString]) -> Int? {
        names.firstIndex { $0.description == name }
    }
}
