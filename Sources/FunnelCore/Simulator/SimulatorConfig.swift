/// Everything that determines a simulated stream. The same value (seed included) always yields
/// the same bytes.
///
/// Stopping: the stream ends at whichever comes first — `events` lines emitted, or event time
/// reaching `start + duration`. Every field has a default so a configuration file may name only
/// what it changes; decoding fills the rest (keys are snake_case).
public struct SimulatorConfig: Sendable, Codable, Equatable {
    public var seed: UInt64 = 1
    /// Size of the ordinary shopper population (ids u-0 … u-(users−1)). Incident actors get the
    /// ids that follow.
    public var users: Int = 10_000
    /// First possible event time, epoch milliseconds (default 2024-01-01T00:00:00Z).
    public var start: Int64 = 1_704_067_200_000
    /// Length of the simulated span in milliseconds (default one day).
    public var duration: Int64 = 86_400_000
    /// Maximum number of lines to emit (default: unlimited, the duration decides).
    public var events: Int = Int.max
    /// Prediction horizon H of `truth.p`: probability of a purchase by the user in (t, t+H].
    public var horizonSeconds: Int = 1800
    /// Multiplies the browse→cart advance rate of every ordinary session: the main knob for the
    /// share of positive prediction points (≈ 2–3 % at 1.0, roughly proportional for small values).
    public var purchaseRateScale: Double = 1.0
    /// Mean number of sessions per ordinary user per day (before the diurnal modulation).
    public var sessionsPerUserPerDay: Double = 1.5
    /// Strength of a per-user latent intent (σ of its log; 16 levels), a part no model can observe. At 0
    /// (the default) `truth.p` is the Bayes-optimal probability given the stream; above 0 it also
    /// knows the intent and is only an upper bound on what a model can reach.
    public var latentIntentSigma: Double = 0
    /// Number of product categories (Zipf popularity).
    public var categories: Int = 300
    /// Number of items (Zipf popularity within a category); rounded down to a multiple of `categories`.
    public var items: Int = 60_000
    /// Zipf exponent of category and item popularity.
    public var zipfExponent: Double = 1.05
    /// Fraction of events emitted late (out of event-time order).
    public var disorder: Double = 0
    /// Maximum lateness of a disordered event, milliseconds.
    public var disorderMaxMillis: Int64 = 5_000
    public var incidents: [Incident] = []

    public init() {}

    public init(
        seed: UInt64 = 1, users: Int = 10_000, start: Int64 = 1_704_067_200_000, duration: Int64 = 86_400_000,
        events: Int = Int.max, horizonSeconds: Int = 1800, purchaseRateScale: Double = 1.0,
        disorder: Double = 0, incidents: [Incident] = []
    ) {
        self.seed = seed
        self.users = users
        self.start = start
        self.duration = duration
        self.events = events
        self.horizonSeconds = horizonSeconds
        self.purchaseRateScale = purchaseRateScale
        self.disorder = disorder
        self.incidents = incidents
    }

    private enum CodingKeys: String, CodingKey {
        case seed, users, start, duration, events
        case horizonSeconds = "horizon_seconds", purchaseRateScale = "purchase_rate_scale"
        case sessionsPerUserPerDay = "sessions_per_user_per_day", latentIntentSigma = "latent_intent_sigma"
        case categories, items, zipfExponent = "zipf_exponent", disorder
        case disorderMaxMillis = "disorder_max_millis", incidents
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SimulatorConfig()
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        users = try c.decodeIfPresent(Int.self, forKey: .users) ?? d.users
        start = try c.decodeIfPresent(Int64.self, forKey: .start) ?? d.start
        duration = try c.decodeIfPresent(Int64.self, forKey: .duration) ?? d.duration
        events = try c.decodeIfPresent(Int.self, forKey: .events) ?? d.events
        horizonSeconds = try c.decodeIfPresent(Int.self, forKey: .horizonSeconds) ?? d.horizonSeconds
        purchaseRateScale = try c.decodeIfPresent(Double.self, forKey: .purchaseRateScale) ?? d.purchaseRateScale
        sessionsPerUserPerDay =
            try c.decodeIfPresent(Double.self, forKey: .sessionsPerUserPerDay) ?? d.sessionsPerUserPerDay
        latentIntentSigma = try c.decodeIfPresent(Double.self, forKey: .latentIntentSigma) ?? d.latentIntentSigma
        categories = try c.decodeIfPresent(Int.self, forKey: .categories) ?? d.categories
        items = try c.decodeIfPresent(Int.self, forKey: .items) ?? d.items
        zipfExponent = try c.decodeIfPresent(Double.self, forKey: .zipfExponent) ?? d.zipfExponent
        disorder = try c.decodeIfPresent(Double.self, forKey: .disorder) ?? d.disorder
        disorderMaxMillis = try c.decodeIfPresent(Int64.self, forKey: .disorderMaxMillis) ?? d.disorderMaxMillis
        incidents = try c.decodeIfPresent([Incident].self, forKey: .incidents) ?? d.incidents
    }
}
