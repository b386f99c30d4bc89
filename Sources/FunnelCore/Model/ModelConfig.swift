/// Settings of the online conversion model (`engine.model` in YAML). Every field has a default.
public struct ModelConfig: Codable, Sendable, Equatable {
    /// Per-coordinate adaptive optimiser.
    public enum Optimizer: String, Codable, Sendable {
        /// FTRL-Proximal (McMahan et al. 2013): sparse weights under L1, robust learning rates.
        case ftrl
        /// AdaGrad with an L1 proximal step: the simpler alternative.
        case adagrad
    }

    /// When a resolved label is learned (see docs/model.md, "delay bias").
    public enum DelayPolicy: String, Codable, Sendable {
        /// Every prediction is learned when its horizon closes, positives too, so labels reach the
        /// learner in event-time order and the early flood of positives cannot bias it upwards.
        case horizon
        /// Positives are learned the moment the purchase arrives (the naive learner; biased upwards).
        case immediate
        /// Fake negatives (Ktena et al. 2019): every prediction is learned as a negative at once —
        /// label-free, the same update whatever the outcome — and again as a positive when its
        /// purchase resolves it. The model then estimates b = p / (1 + p), corrected to p = b / (1 − b).
        /// Fresh like `immediate`, without its overshoot.
        case fakeNegative = "fake_negative"
        /// Fake negatives, importance-weighted (Ktena et al. 2019, "FN weighted"; the default): the
        /// same two updates, the immediate negative scaled by 1 − q (q the model's estimate at that
        /// moment), so the expected gradient vanishes at q = p and the model estimates p directly,
        /// with no correction that blows up as b nears ½; during the first H after a cold start the
        /// negatives ramp in (``ConversionModel``).
        case fakeNegativeWeighted = "fn_weighted"
    }

    public var enabled: Bool = true
    /// Weight table size is 2^hashBits (per weight: two Floats of optimiser state).
    public var hashBits: Int = 18
    public var optimizer: Optimizer = .ftrl
    /// Learning-rate scale (α) and smoothing (β) of the per-coordinate rate α / (β + √n).
    public var alpha: Double = 0.01
    public var beta: Double = 0.1
    public var l1: Double = 0.5
    public var l2: Double = 1
    /// Prediction horizon H: label = a purchase by the same user in (t, t + H].
    public var horizonSeconds: Int = 1800
    /// Prior conversion rate: a fixed offset logit(prior) on the margin, so an untrained model
    /// predicts a plausible rate instead of 0.5 while the first labels are still in flight.
    public var priorRate: Double = 0.01
    public var delay: DelayPolicy = .fakeNegativeWeighted
    /// Hard cap on pending (unresolved) predictions; beyond it the oldest is dropped unlearned.
    public var pendingCapacity: Int = 1 << 18
    /// Score threshold for precision / recall / F1.
    public var threshold: Double = 0.05
    /// Resolved predictions in the "recent" quality window.
    public var qualityWindow: Int = 20_000
    /// Half-life in event time of the per-category purchase counts behind the category-rate
    /// features (``CategoryRates``).
    public var categoryHalfLifeSeconds: Int = 86_400
    /// Feature templates left out of every vector, by their names in docs/model.md ("Leaner
    /// feature sets"): fewer features per event score and learn faster. A model saved with
    /// another set is refused on load.
    public var excludeFeatures: [String] = []

    public init() {}

    /// The templates `excludeFeatures` names (unknown names are left to ``validate(path:)``).
    public var excludedTemplates: Set<FeatureExtractor.Template> {
        Set(excludeFeatures.compactMap(FeatureExtractor.Template.named))
    }

    enum CodingKeys: String, CodingKey {
        case enabled, optimizer, alpha, beta, l1, l2, delay, threshold
        case hashBits = "hash_bits"
        case horizonSeconds = "horizon_seconds"
        case priorRate = "prior_rate"
        case pendingCapacity = "pending_capacity"
        case qualityWindow = "quality_window"
        case categoryHalfLifeSeconds = "category_half_life_seconds"
        case excludeFeatures = "exclude_features"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ModelConfig()
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
        hashBits = try c.decodeIfPresent(Int.self, forKey: .hashBits) ?? d.hashBits
        optimizer = try c.decodeIfPresent(Optimizer.self, forKey: .optimizer) ?? d.optimizer
        alpha = try c.decodeIfPresent(Double.self, forKey: .alpha) ?? d.alpha
        beta = try c.decodeIfPresent(Double.self, forKey: .beta) ?? d.beta
        l1 = try c.decodeIfPresent(Double.self, forKey: .l1) ?? d.l1
        l2 = try c.decodeIfPresent(Double.self, forKey: .l2) ?? d.l2
        horizonSeconds = try c.decodeIfPresent(Int.self, forKey: .horizonSeconds) ?? d.horizonSeconds
        priorRate = try c.decodeIfPresent(Double.self, forKey: .priorRate) ?? d.priorRate
        delay = try c.decodeIfPresent(DelayPolicy.self, forKey: .delay) ?? d.delay
        pendingCapacity = try c.decodeIfPresent(Int.self, forKey: .pendingCapacity) ?? d.pendingCapacity
        threshold = try c.decodeIfPresent(Double.self, forKey: .threshold) ?? d.threshold
        qualityWindow = try c.decodeIfPresent(Int.self, forKey: .qualityWindow) ?? d.qualityWindow
        categoryHalfLifeSeconds = try c.decodeIfPresent(Int.self, forKey: .categoryHalfLifeSeconds)
            ?? d.categoryHalfLifeSeconds
        excludeFeatures = try c.decodeIfPresent([String].self, forKey: .excludeFeatures) ?? d.excludeFeatures
    }

    public func validate(path: String = "engine.model") throws(ConfigError) {
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(key: "\(path).\(key)", message: message) }
        guard hashBits >= 12, hashBits <= 26 else { throw fail("hash_bits", "must be 12 to 26") }
        guard alpha > 0, alpha.isFinite else { throw fail("alpha", "must be positive") }
        guard beta >= 0, beta.isFinite else { throw fail("beta", "must be ≥ 0") }
        guard l1 >= 0, l1.isFinite else { throw fail("l1", "must be ≥ 0") }
        guard l2 >= 0, l2.isFinite else { throw fail("l2", "must be ≥ 0") }
        guard horizonSeconds >= 1, horizonSeconds <= 30 * 86_400 else {
            throw fail("horizon_seconds", "must be 1 s to 30 days")
        }
        guard priorRate > 0, priorRate < 1 else { throw fail("prior_rate", "must be strictly between 0 and 1") }
        guard pendingCapacity >= 16, pendingCapacity <= 1 << 26 else {
            throw fail("pending_capacity", "must be 16 to 67108864")
        }
        guard threshold > 0, threshold < 1 else { throw fail("threshold", "must be strictly between 0 and 1") }
        guard qualityWindow >= 100, qualityWindow <= 10_000_000 else {
            throw fail("quality_window", "must be 100 to 10000000")
        }
        guard categoryHalfLifeSeconds >= 60, categoryHalfLifeSeconds <= 365 * 86_400 else {
            throw fail("category_half_life_seconds", "must be 60 s to 365 days")
        }
        for (i, name) in excludeFeatures.enumerated() where FeatureExtractor.Template.named(name) == nil {
            let known = FeatureExtractor.Template.allCases.map(\.configName).joined(separator: ", ")
            throw fail("exclude_features[\(i)]", "unknown feature template \"\(name)\"; known: \(known)")
        }
    }
}
