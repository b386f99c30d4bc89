/// The engine's behaviour, all in event time. Every field has a default (Codable from YAML).
public struct EngineConfig: Codable, Sendable, Equatable {
    /// Watermark = max event time − this. Events older than the watermark are `late`.
    public var allowedLatenessSeconds: Double = 5
    /// Sliding feature windows per user (at most 4), seconds.
    public var windowSeconds: [Int] = [60, 300, 1800, 86_400]
    /// A user's session ends after this much inactivity (when the producer sends no session id).
    public var sessionGapSeconds: Int = 1800
    /// Idle users are evicted once the watermark is this far past their latest event.
    public var userTTLSeconds: Int = 86_400
    /// Hard cap on tracked users; the least recently active is evicted beyond it.
    public var maxUsers: Int = 2_000_000
    /// Upper bound of the engine's state in MiB (nil: none). Lowers `max_users` to what fits
    /// beside the fixed tables; see ``MemoryBudget`` and ``effectiveMaxUsers``.
    public var memoryLimitMB: Int?
    /// Exact duplicates (same event id) within this span are dropped and counted. 0 disables.
    public var dedupeWindowSeconds: Int = 600
    /// Upper bound of remembered event ids per dedupe generation.
    public var dedupeCapacity: Int = 4_000_000
    public var funnels: [FunnelSpec] = [FunnelSpec.default]
    /// Tumbling funnel window, seconds; rolling windows are sums of tumbling ones.
    public var funnelWindowSeconds: Int = 60
    public var rollingWindowSeconds: [Int] = [900, 3600]
    /// The online conversion model.
    public var model = ModelConfig()
    /// Funnel-drop, fraud and cart-abandonment detection.
    public var alerts = AlertConfig()

    public init() {}

    enum CodingKeys: String, CodingKey {
        case allowedLatenessSeconds = "allowed_lateness_seconds"
        case windowSeconds = "window_seconds"
        case sessionGapSeconds = "session_gap_seconds"
        case userTTLSeconds = "user_ttl_seconds"
        case maxUsers = "max_users"
        case memoryLimitMB = "memory_limit_mb"
        case dedupeWindowSeconds = "dedupe_window_seconds"
        case dedupeCapacity = "dedupe_capacity"
        case funnels
        case funnelWindowSeconds = "funnel_window_seconds"
        case rollingWindowSeconds = "rolling_window_seconds"
        case model, alerts
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = EngineConfig()
        allowedLatenessSeconds = try c.decodeIfPresent(Double.self, forKey: .allowedLatenessSeconds) ?? d.allowedLatenessSeconds
        windowSeconds = try c.decodeIfPresent([Int].self, forKey: .windowSeconds) ?? d.windowSeconds
        sessionGapSeconds = try c.decodeIfPresent(Int.self, forKey: .sessionGapSeconds) ?? d.sessionGapSeconds
        userTTLSeconds = try c.decodeIfPresent(Int.self, forKey: .userTTLSeconds) ?? d.userTTLSeconds
        maxUsers = try c.decodeIfPresent(Int.self, forKey: .maxUsers) ?? d.maxUsers
        memoryLimitMB = try c.decodeIfPresent(Int.self, forKey: .memoryLimitMB)
        dedupeWindowSeconds = try c.decodeIfPresent(Int.self, forKey: .dedupeWindowSeconds) ?? d.dedupeWindowSeconds
        dedupeCapacity = try c.decodeIfPresent(Int.self, forKey: .dedupeCapacity) ?? d.dedupeCapacity
        funnels = try c.decodeIfPresent([FunnelSpec].self, forKey: .funnels) ?? d.funnels
        funnelWindowSeconds = try c.decodeIfPresent(Int.self, forKey: .funnelWindowSeconds) ?? d.funnelWindowSeconds
        rollingWindowSeconds = try c.decodeIfPresent([Int].self, forKey: .rollingWindowSeconds) ?? d.rollingWindowSeconds
        model = try c.decodeIfPresent(ModelConfig.self, forKey: .model) ?? d.model
        alerts = try c.decodeIfPresent(AlertConfig.self, forKey: .alerts) ?? d.alerts
    }

    /// Checks cross-field rules; the error names the key (prefixed by `path`).
    public func validate(path: String = "engine") throws(ConfigError) {
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(key: "\(path).\(key)", message: message) }
        guard allowedLatenessSeconds >= 0, allowedLatenessSeconds <= 86_400 else {
            throw fail("allowed_lateness_seconds", "must be between 0 and 86400")
        }
        guard !windowSeconds.isEmpty, windowSeconds.count <= UserRecord.maxWindows else {
            throw fail("window_seconds", "needs 1 to \(UserRecord.maxWindows) windows")
        }
        for w in windowSeconds where w < 4 || w > 7 * 86_400 {
            throw fail("window_seconds", "each window must be 4 s to 7 days (got \(w))")
        }
        guard sessionGapSeconds > 0 else { throw fail("session_gap_seconds", "must be positive") }
        guard userTTLSeconds > 0 else { throw fail("user_ttl_seconds", "must be positive") }
        guard maxUsers > 0, maxUsers <= 500_000_000 else { throw fail("max_users", "must be 1 to 500000000") }
        guard dedupeWindowSeconds >= 0 else { throw fail("dedupe_window_seconds", "must be ≥ 0") }
        guard dedupeCapacity > 0 else { throw fail("dedupe_capacity", "must be positive") }
        guard !funnels.isEmpty, funnels.count <= 8 else { throw fail("funnels", "needs 1 to 8 funnels") }
        var names = Set<String>()
        for (i, funnel) in funnels.enumerated() {
            try funnel.validate(path: "\(path).funnels[\(i)]")
            guard names.insert(funnel.name).inserted else {
                throw fail("funnels[\(i)].name", "duplicate funnel name '\(funnel.name)'")
            }
            if funnel.conversionWindowSeconds + Int(allowedLatenessSeconds) > userTTLSeconds {
                throw fail("user_ttl_seconds", "must be ≥ the conversion window of funnel '\(funnel.name)' plus lateness")
            }
        }
        guard funnelWindowSeconds >= 1, funnelWindowSeconds <= 86_400 else {
            throw fail("funnel_window_seconds", "must be 1 to 86400")
        }
        for r in rollingWindowSeconds where r % funnelWindowSeconds != 0 || r / funnelWindowSeconds > 1440 || r <= 0 {
            throw fail("rolling_window_seconds", "each must be a positive multiple of funnel_window_seconds, ≤ 1440 windows")
        }
        try model.validate(path: "\(path).model")
        try alerts.validate(path: "\(path).alerts", funnelWindowSeconds: funnelWindowSeconds)
        if let limit = memoryLimitMB {
            guard limit >= 1, limit <= 4_194_304 else { throw fail("memory_limit_mb", "must be 1 to 4194304") }
            let budget = MemoryBudget(config: self)
            let fitting = budget.users(fitting: limit * 1_048_576)
            guard fitting >= Self.minimumUsersInMemoryLimit else {
                let largest = budget.fixed.max { $0.bytes < $1.bytes }
                let mib = { (b: Int) in (b + 1_048_575) / 1_048_576 }
                throw fail("memory_limit_mb", "\(limit) MiB leaves room for \(fitting) users (at most "
                    + "\(budget.bytesPerUser) bytes each) beside \(mib(budget.fixedBytes)) MiB of fixed tables; "
                    + "at least \(Self.minimumUsersInMemoryLimit) must fit. Raise it to at least "
                    + "\(mib(budget.bytes(users: Self.minimumUsersInMemoryLimit))) MiB"
                    + (largest.map { " or shrink \($0.name) (\(mib($0.bytes)) MiB)" } ?? ""))
            }
        }
        if alerts.enabled, alerts.cartAbandonment.enabled,
            alerts.cartAbandonment.idleSeconds + Int(allowedLatenessSeconds) > userTTLSeconds
        {
            // The signal reads the holder's record when the idle deadline passes; an evicted user
            // could never be signalled.
            throw fail("alerts.cart_abandonment.idle_seconds",
                       "plus allowed lateness must be ≤ user_ttl_seconds (raise user_ttl_seconds or set "
                       + "alerts.cart_abandonment.enabled: false)")
        }
    }
}

/// A configuration value that cannot be used; `key` is the dotted path of the offending setting.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public var key: String
    public var message: String
    public init(key: String, message: String) {
        self.key = key
        self.message = message
    }
    public var description: String { "\(key): \(message)" }
}
