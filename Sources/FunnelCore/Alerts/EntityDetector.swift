/// Per-entity anomaly and fraud detection on the live stream: rules over each user's engine
/// state (sliding windows, items, first-seen time), distinct-user counts per ip and device,
/// machine-regular timing and a statistical outlier score. See ``EntityAlertConfig``.
///
/// Rules (alert kind, entity type; severity):
/// - `velocity` (user; warning): events in the shortest window ≥ `events_per_minute` per minute.
/// - `cart_burst` (user; warning): add-to-carts in the window nearest 5 min ≥ `carts`.
/// - `checkout_without_view` (user; critical): checkouts + purchases in the longest window
///   ≥ `attempts` from a user with no product view (none in the longest window and an empty
///   viewed-items filter).
/// - `shared_ip` (ip) / `shared_device` (device = `ip|user-agent`; warning): ≥ `users` distinct
///   users within the rule's window.
/// - `bot_timing` (user; warning): the last `min_gaps` inter-event gaps have a coefficient of
///   variation < `max_cv` and a mean < `max_mean_gap_seconds`.
/// - `fast_purchase` (user; critical): a purchase ≤ `within_seconds` after the user was first seen.
/// - `outlier` (user; warning): see ``OutlierModel``.
///
/// Every alert is a one-shot `firing` record with id `kind:entity_type:entity`; each (rule,
/// entity) fires at most once per `cooldown_seconds` of event time.
///
/// Everything runs in event time (`Event.timestamp`): replaying the same input produces the same
/// alerts. Memory is fixed at construction (bounded set-associative tables); the per-event path
/// allocates nothing — strings are built only for an alert that is actually emitted.
///
/// Tuning notes (defaults against the built-in simulator): ordinary shoppers click with roughly
/// exponential gaps (~25 s), at most ~13 events in a minute and 6 carts in 5 minutes, each from
/// its own ip (2^23 addresses: pairs collide at 100k users, never 20 users in 10 minutes). Up to
/// 6 checkouts/purchases without a product view do occur (a page landing straight into the cart,
/// several checkout pages), hence 8 attempts; a purchase 14 s after arrival occurs about once a
/// day at 100k users and 5 s at 300k users, hence 3 s. Scripted bots (±2 % gaps) are caught by
/// `velocity` and `bot_timing`, card testers (fixed-interval checkouts, no views) by `checkout_without_view`,
/// both also by `outlier`; a shared device by `shared_device`.
public struct EntityDetector: Sendable {
    public let config: EntityAlertConfig
    /// The engine's per-user window lengths, seconds.
    public let windowSeconds: [Int]

    let shortWindow: Int
    let cartWindow: Int
    let longWindow: Int
    /// Thresholds converted to counts in the windows they read.
    let velocityCount: Int
    let activityCount: Int
    private let on: Switches

    var cooldowns: CooldownTable
    var sharedIPs: SharedEntityTracker
    var sharedDevices: SharedEntityTracker
    var timing: BotTimingTracker
    var outlier: OutlierModel
    /// Event time of the first observed event (µs); `.min` before it.
    private(set) var firstEventTime: Int64 = .min
    /// When set, user entities (and the ids and messages built from them) carry pseudonyms.
    public internal(set) var pseudonymizer: UserPseudonymizer? {
        get { pseudonymizerSlot.value }
        set { pseudonymizerSlot.value = newValue }
    }
    private var pseudonymizerSlot = UserPseudonymizerSlot()

    /// Alerts emitted, and rule hits swallowed by the cooldown.
    public private(set) var alertsEmitted = 0
    public private(set) var alertsSuppressed = 0

    /// Which rules run (the master switch folded in).
    struct Switches: Sendable {
        var velocity, cartBurst, checkoutWithoutView, sharedIP, sharedDevice, botTiming, fastPurchase, outlier: Bool
    }

    /// - Parameters:
    ///   - config: validated settings.
    ///   - windowSeconds: the engine's per-user sliding windows (`EngineConfig.windowSeconds`),
    ///     in the order `UserRecord` stores them.
    public init(config: EntityAlertConfig, windowSeconds: [Int]) {
        self.config = config
        self.windowSeconds = windowSeconds
        let live = config.enabled && !windowSeconds.isEmpty
        on = Switches(
            velocity: live && config.velocity.enabled, cartBurst: live && config.cartBurst.enabled,
            checkoutWithoutView: live && config.checkoutWithoutView.enabled,
            sharedIP: live && config.sharedIP.enabled, sharedDevice: live && config.sharedDevice.enabled,
            botTiming: live && config.botTiming.enabled, fastPurchase: live && config.fastPurchase.enabled,
            outlier: live && config.outlier.enabled)
        shortWindow = Self.nearestWindow(windowSeconds, to: 0)
        cartWindow = Self.nearestWindow(windowSeconds, to: config.cartBurst.windowSeconds)
        longWindow = Self.nearestWindow(windowSeconds, to: .max)
        let shortSeconds = Double(windowSeconds.isEmpty ? 60 : windowSeconds[shortWindow])
        velocityCount = max(1, Int((config.velocity.eventsPerMinute * shortSeconds / 60).rounded(.up)))
        activityCount = max(1, Int((config.botTiming.activityPerMinute * shortSeconds / 60).rounded(.up)))
        let anyRule = on.velocity || on.cartBurst || on.checkoutWithoutView || on.sharedIP || on.sharedDevice
            || on.botTiming || on.fastPurchase || on.outlier
        cooldowns = CooldownTable(capacity: anyRule ? config.cooldownCapacity : 0,
                                  cooldownSeconds: max(1, config.cooldownSeconds))
        sharedIPs = SharedEntityTracker(rule: config.sharedIP, enabled: on.sharedIP)
        sharedDevices = SharedEntityTracker(rule: config.sharedDevice, enabled: on.sharedDevice)
        timing = BotTimingTracker(rule: config.botTiming, enabled: on.botTiming)
        outlier = OutlierModel(config: config.outlier, windowSeconds: windowSeconds)
    }

    /// Entities currently held in the detector's bounded tables (ips, devices, timed users,
    /// cooldowns), for metrics.
    public var trackedEntities: Int {
        cooldowns.count + sharedIPs.count + sharedDevices.count + timing.count
    }

    /// Bytes of the fixed-size tables (allocated at creation, whatever the input).
    public var tableBytes: Int {
        cooldowns.bytes + sharedIPs.bytes + sharedDevices.bytes + timing.bytes
    }

    /// Index of the window closest to `seconds` (the first on a tie); 0 for no windows.
    static func nearestWindow(_ windows: [Int], to seconds: Int) -> Int {
        var best = 0
        for (i, w) in windows.enumerated()
        where (w - seconds).magnitude < (windows[best] - seconds).magnitude {
            best = i
        }
        return best
    }

    /// Applies every enabled rule to one accepted event. Call after the engine has applied the
    /// event to its user's record (`user` is that record) with the event's `context`; `record`
    /// is the source record the event's text spans point into. Alerts go to `emit`.
    public mutating func observe(_ event: Event, context: EventContext, user: UserRecord,
                                 record: UnsafeRawBufferPointer, emit: (Alert) -> Void) {
        let now = event.timestamp
        if firstEventTime == .min {
            guard on.velocity || on.cartBurst || on.checkoutWithoutView || on.sharedIP || on.sharedDevice
                || on.botTiming || on.fastPurchase || on.outlier
            else { return }
            firstEventTime = now
        }
        withUnsafeBytes(of: user.counts) { bytes in
            apply(event, context: context, user: user, counters: WindowCounters(bytes: bytes), record: record,
                  emit: emit)
        }
    }

    @inline(__always)
    private mutating func apply(_ event: Event, context: EventContext, user: UserRecord, counters: WindowCounters,
                                record: UnsafeRawBufferPointer, emit: (Alert) -> Void) {
        let now = event.timestamp
        cooldowns.sweep(now: now)
        let shortCount = counters.total(window: shortWindow)

        if on.velocity && shortCount >= velocityCount && admit(.velocity, event.userKey, now) {
            emit(velocityAlert(event, count: shortCount, record: record))
        }
        if on.cartBurst && event.type == .cart {
            let carts = counters.count(window: cartWindow, group: EventType.cart.windowGroup)
            if carts >= config.cartBurst.carts && admit(.cartBurst, event.userKey, now) {
                emit(cartBurstAlert(event, carts: carts, record: record))
            }
        }
        if event.type == .checkout || event.type == .purchase {
            checkCardTesting(event, context: context, user: user, counters: counters, record: record, emit: emit)
        }
        if on.sharedIP && event.ipKey != 0 && sharedIPs.needsRefresh(now: now, context: context) {
            sharedIPs.sweep(now: now)
            let users = sharedIPs.observe(entity: event.ipKey, user: event.userKey, now: now)
            if users >= sharedIPs.limit && admit(.sharedIP, event.ipKey, now) {
                emit(sharedAlert(.sharedIP, event, users: users, record: record))
            }
        }
        if on.sharedDevice && event.ipKey != 0 && event.userAgentKey != 0
            && sharedDevices.needsRefresh(now: now, context: context)
        {
            sharedDevices.sweep(now: now)
            let device = StableHash.combine(event.ipKey, event.userAgentKey)
            let users = sharedDevices.observe(entity: device, user: event.userKey, now: now)
            if users >= sharedDevices.limit && admit(.sharedDevice, device, now) {
                emit(sharedAlert(.sharedDevice, event, users: users, record: record))
            }
        }
        if on.botTiming {
            timing.sweep(now: now)
            if shortCount >= activityCount && !context.isNewUser,
                let run = timing.observe(user: event.userKey, now: now, sincePrevious: context.sincePrevious),
                run.cv < config.botTiming.maxCV, run.mean < config.botTiming.maxMeanGapSeconds,
                admit(.botTiming, event.userKey, now)
            {
                emit(botTimingAlert(event, mean: run.mean, cv: run.cv, record: record))
            }
        }
        if on.outlier, let hit = outlier.observe(user, counters: counters, now: now),
            admit(.outlier, event.userKey, now)
        {
            emit(outlierAlert(event, score: hit.score, raw: hit.raw, record: record))
        }
    }

    /// `checkout_without_view` and `fast_purchase`, on checkout and purchase events.
    private mutating func checkCardTesting(_ event: Event, context: EventContext, user: UserRecord, counters: WindowCounters,
                                           record: UnsafeRawBufferPointer, emit: (Alert) -> Void) {
        let now = event.timestamp
        if on.checkoutWithoutView && user.viewedItems == 0
            && counters.count(window: longWindow, group: EventType.view.windowGroup) == 0
        {
            let checkouts = counters.count(window: longWindow, group: EventType.checkout.windowGroup)
            let purchases = counters.count(window: longWindow, group: EventType.purchase.windowGroup)
            if checkouts + purchases >= config.checkoutWithoutView.attempts
                && admit(.checkoutWithoutView, event.userKey, now)
            {
                emit(checkoutWithoutViewAlert(event, checkouts: checkouts, purchases: purchases, record: record))
            }
        }
        let warmupEnd = firstEventTime / 1_000_000 + Int64(config.fastPurchase.warmupSeconds)
        // A purchase that is the user's first event shows no arrival at all (history before the
        // stream, a sampled log): only a purchase after an observed arrival can be too fast.
        if on.fastPurchase && event.type == .purchase && !context.isNewUser && Int64(user.firstSeen) >= warmupEnd {
            let elapsed = now / 1_000_000 - Int64(user.firstSeen)
            if elapsed >= 0 && elapsed <= Int64(config.fastPurchase.withinSeconds)
                && admit(.fastPurchase, event.userKey, now)
            {
                emit(fastPurchaseAlert(event, seconds: elapsed, record: record))
            }
        }
    }

    /// Cooldown gate: true when the alert may go out (and counts it either way).
    @inline(__always)
    private mutating func admit(_ rule: EntityRule, _ entity: UInt64, _ now: Int64) -> Bool {
        if cooldowns.admit(rule, entity: entity, now: now) {
            alertsEmitted += 1
            return true
        }
        alertsSuppressed += 1
        return false
    }
}

extension EntityDetector: Codable {}

extension EntityDetector.Switches: Codable {}
