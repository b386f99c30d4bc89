/// Settings of the per-entity anomaly / fraud detector (``EntityDetector``). Every field has a
/// default, so a YAML file names only what it changes (keys are snake_case):
///
/// ```yaml
/// enabled: true
/// cooldown_seconds: 3600
/// velocity: { events_per_minute: 60 }
/// shared_ip: { users: 20, window_seconds: 600 }
/// outlier: { enabled: false }
/// ```
///
/// Each rule has its own `enabled` switch and thresholds; `enabled` here switches all of them.
/// Thresholds on window counts read the engine's per-user sliding windows, so "per minute"
/// means "in the shortest engine window, scaled to a minute".
public struct EntityAlertConfig: Codable, Sendable, Equatable {
    /// Master switch: when false the detector does nothing and allocates nothing.
    public var enabled: Bool = true
    /// Each (rule, entity) fires at most once per this much event time.
    public var cooldownSeconds: Int = 3600
    /// Bound on remembered (rule, entity) cooldowns; beyond it the stalest is forgotten.
    public var cooldownCapacity: Int = 16_384
    /// Sets every fixed table's capacity (cooldowns, shared ip/device, bot timing) at once: small
    /// engines (tests, fuzzing, tight memory limits) shrink them together.
    public mutating func setTableCapacities(_ capacity: Int) {
        cooldownCapacity = capacity
        sharedIP.capacity = capacity
        sharedDevice.capacity = capacity
        botTiming.capacity = capacity
    }
    public var velocity = Velocity()
    public var cartBurst = CartBurst()
    public var checkoutWithoutView = CheckoutWithoutView()
    /// Distinct users per ip address.
    public var sharedIP = SharedEntity(users: 20, windowSeconds: 600)
    /// Distinct users per device (ip + user agent).
    public var sharedDevice = SharedEntity(users: 10, windowSeconds: 3600)
    public var botTiming = BotTiming()
    public var fastPurchase = FastPurchase()
    public var outlier = Outlier()

    public init() {}

    /// `velocity`: the user's events in the shortest window, per minute, reach the threshold.
    public struct Velocity: Codable, Sendable, Equatable {
        public var enabled: Bool = true
        public var eventsPerMinute: Double = 60

        public init() {}

        enum CodingKeys: String, CodingKey {
            case enabled
            case eventsPerMinute = "events_per_minute"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Velocity()
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
            eventsPerMinute = try c.decodeIfPresent(Double.self, forKey: .eventsPerMinute) ?? d.eventsPerMinute
        }
    }

    /// `cart_burst`: add-to-cart events by one user in the engine window nearest `window_seconds`.
    public struct CartBurst: Codable, Sendable, Equatable {
        public var enabled: Bool = true
        public var carts: Int = 15
        public var windowSeconds: Int = 300

        public init() {}

        enum CodingKeys: String, CodingKey {
            case enabled, carts
            case windowSeconds = "window_seconds"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = CartBurst()
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
            carts = try c.decodeIfPresent(Int.self, forKey: .carts) ?? d.carts
            windowSeconds = try c.decodeIfPresent(Int.self, forKey: .windowSeconds) ?? d.windowSeconds
        }
    }

    /// `checkout_without_view`: checkouts + purchases (longest window) by a user with no product view.
    public struct CheckoutWithoutView: Codable, Sendable, Equatable {
        public var enabled: Bool = true
        public var attempts: Int = 8

        public init() {}

        enum CodingKeys: String, CodingKey {
            case enabled, attempts
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = CheckoutWithoutView()
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
            attempts = try c.decodeIfPresent(Int.self, forKey: .attempts) ?? d.attempts
        }
    }

    /// `shared_ip` / `shared_device`: at least `users` distinct users from one entity within
    /// `window_seconds`. Counting is exact up to `users`; a user's presence is refreshed once per
    /// quarter window, so the effective window is 1 to 1.25 × `window_seconds`. At most
    /// `capacity` entities are tracked (the least recently seen is replaced beyond it; memory is
    /// about `capacity × (32 + 8 × (users − 1))` bytes).
    public struct SharedEntity: Codable, Sendable, Equatable {
        public static let maxUsers = 64

        public var enabled: Bool = true
        public var users: Int
        public var windowSeconds: Int
        public var capacity: Int = 16_384

        public init(users: Int, windowSeconds: Int) {
            self.users = users
            self.windowSeconds = windowSeconds
        }

        enum CodingKeys: String, CodingKey {
            case enabled, users, capacity
            case windowSeconds = "window_seconds"
        }

        /// Decodes over `defaults` (the parent knows which rule's defaults apply).
        init(from c: KeyedDecodingContainer<CodingKeys>, defaults d: SharedEntity) throws {
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
            users = try c.decodeIfPresent(Int.self, forKey: .users) ?? d.users
            windowSeconds = try c.decodeIfPresent(Int.self, forKey: .windowSeconds) ?? d.windowSeconds
            capacity = try c.decodeIfPresent(Int.self, forKey: .capacity) ?? d.capacity
        }

        /// Standalone decoding uses the `shared_ip` defaults.
        public init(from decoder: any Decoder) throws {
            try self.init(from: decoder.container(keyedBy: CodingKeys.self), defaults: EntityAlertConfig().sharedIP)
        }
    }

    /// `bot_timing`: the coefficient of variation of a user's last `min_gaps` inter-event gaps is
    /// below `max_cv` and their mean below `max_mean_gap_seconds`. Only users reaching
    /// `activity_per_minute` (shortest window) are timed, in a table of `capacity` users.
    public struct BotTiming: Codable, Sendable, Equatable {
        public static let maxGaps = 64

        public var enabled: Bool = true
        public var minGaps: Int = 20
        public var maxCV: Double = 0.1
        public var maxMeanGapSeconds: Double = 30
        public var activityPerMinute: Double = 10
        public var capacity: Int = 8192

        public init() {}

        enum CodingKeys: String, CodingKey {
            case enabled, capacity
            case minGaps = "min_gaps"
            case maxCV = "max_cv"
            case maxMeanGapSeconds = "max_mean_gap_seconds"
            case activityPerMinute = "activity_per_minute"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = BotTiming()
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
            minGaps = try c.decodeIfPresent(Int.self, forKey: .minGaps) ?? d.minGaps
            maxCV = try c.decodeIfPresent(Double.self, forKey: .maxCV) ?? d.maxCV
            maxMeanGapSeconds = try c.decodeIfPresent(Double.self, forKey: .maxMeanGapSeconds) ?? d.maxMeanGapSeconds
            activityPerMinute = try c.decodeIfPresent(Double.self, forKey: .activityPerMinute) ?? d.activityPerMinute
            capacity = try c.decodeIfPresent(Int.self, forKey: .capacity) ?? d.capacity
        }
    }

    /// `fast_purchase`: a purchase within `within_seconds` of the user's first-seen time.
    public struct FastPurchase: Codable, Sendable, Equatable {
        public var enabled: Bool = true
        public var withinSeconds: Int = 3
        /// Users first seen within this much event time of the detector's first event may be
        /// returning users whose history predates the detector (a restart, a replay starting
        /// mid-day): their "first seen" means nothing, so they are not judged.
        public var warmupSeconds: Int = 900

        public init() {}

        enum CodingKeys: String, CodingKey {
            case enabled
            case withinSeconds = "within_seconds"
            case warmupSeconds = "warmup_seconds"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = FastPurchase()
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
            withinSeconds = try c.decodeIfPresent(Int.self, forKey: .withinSeconds) ?? d.withinSeconds
            warmupSeconds = try c.decodeIfPresent(Int.self, forKey: .warmupSeconds) ?? d.warmupSeconds
        }
    }

    /// `outlier`: the user's one-sided diagonal Mahalanobis score against the population
    /// (see ``EntityDetector``) exceeds `threshold`, for users with at least `min_events` events
    /// in the longest window, once the population holds `min_population` user-minutes.
    public struct Outlier: Codable, Sendable, Equatable {
        public var enabled: Bool = true
        public var threshold: Double = 40
        public var minEvents: Int = 20
        /// Half-life of the population statistics, event time.
        public var halfLifeSeconds: Int = 3600
        /// Floor of each feature's standard deviation (log1p units).
        public var minStd: Double = 0.5
        public var minPopulation: Double = 500

        public init() {}

        enum CodingKeys: String, CodingKey {
            case enabled, threshold
            case minEvents = "min_events"
            case halfLifeSeconds = "half_life_seconds"
            case minStd = "min_std"
            case minPopulation = "min_population"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Outlier()
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
            threshold = try c.decodeIfPresent(Double.self, forKey: .threshold) ?? d.threshold
            minEvents = try c.decodeIfPresent(Int.self, forKey: .minEvents) ?? d.minEvents
            halfLifeSeconds = try c.decodeIfPresent(Int.self, forKey: .halfLifeSeconds) ?? d.halfLifeSeconds
            minStd = try c.decodeIfPresent(Double.self, forKey: .minStd) ?? d.minStd
            minPopulation = try c.decodeIfPresent(Double.self, forKey: .minPopulation) ?? d.minPopulation
        }
    }

    enum CodingKeys: String, CodingKey {
        case enabled, velocity, outlier
        case cooldownSeconds = "cooldown_seconds"
        case cooldownCapacity = "cooldown_capacity"
        case cartBurst = "cart_burst"
        case checkoutWithoutView = "checkout_without_view"
        case sharedIP = "shared_ip"
        case sharedDevice = "shared_device"
        case botTiming = "bot_timing"
        case fastPurchase = "fast_purchase"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = EntityAlertConfig()
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
        cooldownSeconds = try c.decodeIfPresent(Int.self, forKey: .cooldownSeconds) ?? d.cooldownSeconds
        cooldownCapacity = try c.decodeIfPresent(Int.self, forKey: .cooldownCapacity) ?? d.cooldownCapacity
        velocity = try c.decodeIfPresent(Velocity.self, forKey: .velocity) ?? d.velocity
        cartBurst = try c.decodeIfPresent(CartBurst.self, forKey: .cartBurst) ?? d.cartBurst
        checkoutWithoutView =
            try c.decodeIfPresent(CheckoutWithoutView.self, forKey: .checkoutWithoutView) ?? d.checkoutWithoutView
        sharedIP = try Self.decodeShared(c, .sharedIP, defaults: d.sharedIP)
        sharedDevice = try Self.decodeShared(c, .sharedDevice, defaults: d.sharedDevice)
        botTiming = try c.decodeIfPresent(BotTiming.self, forKey: .botTiming) ?? d.botTiming
        fastPurchase = try c.decodeIfPresent(FastPurchase.self, forKey: .fastPurchase) ?? d.fastPurchase
        outlier = try c.decodeIfPresent(Outlier.self, forKey: .outlier) ?? d.outlier
    }

    private static func decodeShared(
        _ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys, defaults: SharedEntity
    ) throws -> SharedEntity {
        guard c.contains(key), try !c.decodeNil(forKey: key) else { return defaults }
        return try SharedEntity(from: c.nestedContainer(keyedBy: SharedEntity.CodingKeys.self, forKey: key),
                                defaults: defaults)
    }

    /// Checks every setting; the error names the offending key, prefixed by `path`
    /// (e.g. `engine.alerts.entities.shared_ip.users`).
    public func validate(path: String) throws(ConfigError) {
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(key: "\(path).\(key)", message: message) }
        let week = 7 * 86_400
        guard cooldownSeconds >= 1, cooldownSeconds <= week else {
            throw fail("cooldown_seconds", "must be 1 s to 7 days")
        }
        guard cooldownCapacity >= 64, cooldownCapacity <= 1 << 24 else {
            throw fail("cooldown_capacity", "must be 64 to 16777216")
        }
        guard velocity.eventsPerMinute >= 1, velocity.eventsPerMinute <= 100_000 else {
            throw fail("velocity.events_per_minute", "must be 1 to 100000")
        }
        guard cartBurst.carts >= 2, cartBurst.carts <= 1000 else { throw fail("cart_burst.carts", "must be 2 to 1000") }
        guard cartBurst.windowSeconds >= 4, cartBurst.windowSeconds <= week else {
            throw fail("cart_burst.window_seconds", "must be 4 s to 7 days")
        }
        guard checkoutWithoutView.attempts >= 1, checkoutWithoutView.attempts <= 100 else {
            throw fail("checkout_without_view.attempts", "must be 1 to 100")
        }
        for (name, rule) in [("shared_ip", sharedIP), ("shared_device", sharedDevice)] {
            guard rule.users >= 2, rule.users <= SharedEntity.maxUsers else {
                throw fail("\(name).users", "must be 2 to \(SharedEntity.maxUsers)")
            }
            guard rule.windowSeconds >= 1, rule.windowSeconds <= week else {
                throw fail("\(name).window_seconds", "must be 1 s to 7 days")
            }
            guard rule.capacity >= 64, rule.capacity <= 1 << 24 else {
                throw fail("\(name).capacity", "must be 64 to 16777216")
            }
        }
        guard botTiming.minGaps >= 4, botTiming.minGaps <= BotTiming.maxGaps else {
            throw fail("bot_timing.min_gaps", "must be 4 to \(BotTiming.maxGaps)")
        }
        guard botTiming.maxCV > 0, botTiming.maxCV <= 1 else { throw fail("bot_timing.max_cv", "must be in (0, 1]") }
        guard botTiming.maxMeanGapSeconds > 0, botTiming.maxMeanGapSeconds <= 3600 else {
            throw fail("bot_timing.max_mean_gap_seconds", "must be in (0, 3600]")
        }
        guard botTiming.activityPerMinute >= 1, botTiming.activityPerMinute <= 100_000 else {
            throw fail("bot_timing.activity_per_minute", "must be 1 to 100000")
        }
        guard botTiming.capacity >= 64, botTiming.capacity <= 1 << 24 else {
            throw fail("bot_timing.capacity", "must be 64 to 16777216")
        }
        guard fastPurchase.withinSeconds >= 1, fastPurchase.withinSeconds <= 86_400 else {
            throw fail("fast_purchase.within_seconds", "must be 1 s to 1 day")
        }
        guard fastPurchase.warmupSeconds >= 0, fastPurchase.warmupSeconds <= 86_400 else {
            throw fail("fast_purchase.warmup_seconds", "must be 0 s to 1 day")
        }
        guard outlier.threshold > 0, outlier.threshold.isFinite else {
            throw fail("outlier.threshold", "must be positive")
        }
        guard outlier.minEvents >= 1 else { throw fail("outlier.min_events", "must be at least 1") }
        guard outlier.halfLifeSeconds >= 60, outlier.halfLifeSeconds <= week else {
            throw fail("outlier.half_life_seconds", "must be 60 s to 7 days")
        }
        guard outlier.minStd > 0, outlier.minStd.isFinite else { throw fail("outlier.min_std", "must be positive") }
        guard outlier.minPopulation >= 0, outlier.minPopulation.isFinite else {
            throw fail("outlier.min_population", "must be ≥ 0")
        }
    }
}
