/// Alerting settings (`engine.alerts` in the YAML). Every field has a default.
public struct AlertConfig: Codable, Sendable, Equatable {
    /// Master switch: with false, no detector runs and nothing is published on the alerts topic.
    public var enabled = true
    public var funnel = FunnelAlertConfig()
    public var entities = EntityAlertConfig()
    public var cartAbandonment = CartAbandonmentConfig()

    public init() {}

    enum CodingKeys: String, CodingKey {
        case enabled, funnel, entities
        case cartAbandonment = "cart_abandonment"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AlertConfig()
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
        funnel = try c.decodeIfPresent(FunnelAlertConfig.self, forKey: .funnel) ?? d.funnel
        entities = try c.decodeIfPresent(EntityAlertConfig.self, forKey: .entities) ?? d.entities
        cartAbandonment = try c.decodeIfPresent(CartAbandonmentConfig.self, forKey: .cartAbandonment) ?? d.cartAbandonment
    }

    public func validate(path: String, funnelWindowSeconds: Int) throws(ConfigError) {
        try funnel.validate(path: "\(path).funnel", funnelWindowSeconds: funnelWindowSeconds)
        try entities.validate(path: "\(path).entities")
        try cartAbandonment.validate(path: "\(path).cart_abandonment")
    }
}

/// Funnel-drop, volume-drop and stall detection on the funnel windows (docs/alerts.md).
public struct FunnelAlertConfig: Codable, Sendable, Equatable {
    public var enabled = true
    /// Burn-rate confirmation: the drop must show in the short window (still happening) and be
    /// significant over the long one. Both are multiples of `engine.funnel_window_seconds`.
    public var shortWindowSeconds = 300
    public var longWindowSeconds = 900
    /// Half-life of the exponentially weighted baseline, fed with windows as they leave the long
    /// window (so an incident never pulls its own baseline down) and frozen while firing.
    public var baselineHalfLifeSeconds = 21_600
    /// Attempts entering the step in the long window below which the step is not judged.
    public var minVolume = 40
    /// Effective baseline attempts needed before a step can alert (warm-up).
    public var minBaselineVolume = 400
    /// The observed rate must be at least this far below the baseline (relative) …
    public var minRelativeDrop = 0.3
    /// … and `(baseline − rate) / se` must reach this z (se: count-ratio sampling variance plus the
    /// step's learned extra variance; docs/alerts.md).
    public var z = 3.0
    /// Hysteresis: a firing alert resolves once both windows are within this relative distance of the baseline.
    public var resolveRelativeDrop = 0.12
    /// After resolving, the same alert id does not fire again for this long.
    public var cooldownSeconds = 1800
    /// Judge every breakdown value (device, channel, category … of each funnel) as well as all traffic.
    public var breakdowns = true
    /// Step volume: observed attempts against the step's baseline share of visits.
    public var volumeEnabled = true
    public var volumeMinRelativeDrop = 0.6
    public var volumeZ = 4.0
    /// Visits at or below this fraction of the expected count (over both windows) mean a stalled stream.
    public var stallFraction = 0.05
    /// Breakdown values listed as root causes on an all-traffic alert.
    public var rootCauses = 3
    /// `run` only, and the one setting here in processing time: after input has flowed, this many
    /// seconds with no record at all raise `stream_stalled` at once (the event-time check can only
    /// see a stall once the watermark moves again). 0 disables.
    public var stallAfterSeconds = 300

    public init() {}

    enum CodingKeys: String, CodingKey {
        case enabled, z, breakdowns
        case shortWindowSeconds = "short_window_seconds"
        case longWindowSeconds = "long_window_seconds"
        case baselineHalfLifeSeconds = "baseline_half_life_seconds"
        case minVolume = "min_volume"
        case minBaselineVolume = "min_baseline_volume"
        case minRelativeDrop = "min_relative_drop"
        case resolveRelativeDrop = "resolve_relative_drop"
        case cooldownSeconds = "cooldown_seconds"
        case volumeEnabled = "volume_enabled"
        case volumeMinRelativeDrop = "volume_min_relative_drop"
        case volumeZ = "volume_z"
        case stallFraction = "stall_fraction"
        case rootCauses = "root_causes"
        case stallAfterSeconds = "stall_after_seconds"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = FunnelAlertConfig()
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
        shortWindowSeconds = try c.decodeIfPresent(Int.self, forKey: .shortWindowSeconds) ?? d.shortWindowSeconds
        longWindowSeconds = try c.decodeIfPresent(Int.self, forKey: .longWindowSeconds) ?? d.longWindowSeconds
        baselineHalfLifeSeconds =
            try c.decodeIfPresent(Int.self, forKey: .baselineHalfLifeSeconds) ?? d.baselineHalfLifeSeconds
        minVolume = try c.decodeIfPresent(Int.self, forKey: .minVolume) ?? d.minVolume
        minBaselineVolume = try c.decodeIfPresent(Int.self, forKey: .minBaselineVolume) ?? d.minBaselineVolume
        minRelativeDrop = try c.decodeIfPresent(Double.self, forKey: .minRelativeDrop) ?? d.minRelativeDrop
        z = try c.decodeIfPresent(Double.self, forKey: .z) ?? d.z
        resolveRelativeDrop = try c.decodeIfPresent(Double.self, forKey: .resolveRelativeDrop) ?? d.resolveRelativeDrop
        cooldownSeconds = try c.decodeIfPresent(Int.self, forKey: .cooldownSeconds) ?? d.cooldownSeconds
        breakdowns = try c.decodeIfPresent(Bool.self, forKey: .breakdowns) ?? d.breakdowns
        volumeEnabled = try c.decodeIfPresent(Bool.self, forKey: .volumeEnabled) ?? d.volumeEnabled
        volumeMinRelativeDrop =
            try c.decodeIfPresent(Double.self, forKey: .volumeMinRelativeDrop) ?? d.volumeMinRelativeDrop
        volumeZ = try c.decodeIfPresent(Double.self, forKey: .volumeZ) ?? d.volumeZ
        stallFraction = try c.decodeIfPresent(Double.self, forKey: .stallFraction) ?? d.stallFraction
        rootCauses = try c.decodeIfPresent(Int.self, forKey: .rootCauses) ?? d.rootCauses
        stallAfterSeconds = try c.decodeIfPresent(Int.self, forKey: .stallAfterSeconds) ?? d.stallAfterSeconds
    }

    public func validate(path: String, funnelWindowSeconds: Int) throws(ConfigError) {
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(key: "\(path).\(key)", message: message) }
        let w = max(funnelWindowSeconds, 1)
        guard shortWindowSeconds > 0, shortWindowSeconds % w == 0 else {
            throw fail("short_window_seconds", "must be a positive multiple of engine.funnel_window_seconds (\(w))")
        }
        guard longWindowSeconds >= shortWindowSeconds, longWindowSeconds % w == 0, longWindowSeconds / w <= 1440 else {
            throw fail("long_window_seconds",
                       "must be a multiple of engine.funnel_window_seconds (\(w)), ≥ short_window_seconds, ≤ 1440 windows")
        }
        guard baselineHalfLifeSeconds >= longWindowSeconds else {
            throw fail("baseline_half_life_seconds", "must be ≥ long_window_seconds")
        }
        guard minVolume >= 1 else { throw fail("min_volume", "must be ≥ 1") }
        guard minBaselineVolume >= 1 else { throw fail("min_baseline_volume", "must be ≥ 1") }
        guard minRelativeDrop > 0, minRelativeDrop < 1 else { throw fail("min_relative_drop", "must be in (0, 1)") }
        guard resolveRelativeDrop >= 0, resolveRelativeDrop < minRelativeDrop else {
            throw fail("resolve_relative_drop", "must be in [0, min_relative_drop)")
        }
        guard z > 0, z <= 10 else { throw fail("z", "must be in (0, 10]") }
        guard cooldownSeconds >= 0 else { throw fail("cooldown_seconds", "must be ≥ 0") }
        guard volumeMinRelativeDrop > 0, volumeMinRelativeDrop < 1 else {
            throw fail("volume_min_relative_drop", "must be in (0, 1)")
        }
        guard volumeZ > 0, volumeZ <= 10 else { throw fail("volume_z", "must be in (0, 10]") }
        guard stallFraction >= 0, stallFraction < 1 else { throw fail("stall_fraction", "must be in [0, 1)") }
        guard rootCauses >= 0, rootCauses <= 20 else { throw fail("root_causes", "must be 0 to 20") }
        guard stallAfterSeconds >= 0 else { throw fail("stall_after_seconds", "must be ≥ 0 (0 disables)") }
    }
}

/// The cart-abandonment signal: once per cart, when its holder goes idle or scores low.
public struct CartAbandonmentConfig: Codable, Sendable, Equatable {
    public var enabled = true
    /// Event-time inactivity after which a non-empty cart counts as abandoned. A user evicted
    /// before that (`engine.user_ttl_seconds` shorter than this plus the lateness) is not signalled.
    public var idleSeconds = 1800
    /// With the model on: a score below this on an event of a cart holder signals at once (0 disables).
    public var scoreThreshold = 0.02
    /// Carts worth less than this are not signalled.
    public var minCartValue = 0.0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case enabled
        case idleSeconds = "idle_seconds"
        case scoreThreshold = "score_threshold"
        case minCartValue = "min_cart_value"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CartAbandonmentConfig()
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
        idleSeconds = try c.decodeIfPresent(Int.self, forKey: .idleSeconds) ?? d.idleSeconds
        scoreThreshold = try c.decodeIfPresent(Double.self, forKey: .scoreThreshold) ?? d.scoreThreshold
        minCartValue = try c.decodeIfPresent(Double.self, forKey: .minCartValue) ?? d.minCartValue
    }

    public func validate(path: String) throws(ConfigError) {
        guard idleSeconds >= 1, idleSeconds <= 30 * 86_400 else {
            throw ConfigError(key: "\(path).idle_seconds", message: "must be 1 s to 30 days")
        }
        guard scoreThreshold >= 0, scoreThreshold < 1 else {
            throw ConfigError(key: "\(path).score_threshold", message: "must be in [0, 1)")
        }
        guard minCartValue >= 0, minCartValue.isFinite else {
            throw ConfigError(key: "\(path).min_cart_value", message: "must be ≥ 0")
        }
    }
}
