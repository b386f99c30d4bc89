/// Turns an event and its user's state into a hashed sparse ``FeatureVector``.
///
/// Every feature is a (template, bin[, key]) triple hashed into 2^bits slots. The template/bin pair
/// is a small integer, the *name id*, so a score can name its strongest features from a table built
/// once here instead of formatting strings per event. The feature layout is fingerprinted
/// (``fingerprint``) so that a saved model is only loaded by an engine that computes the same features.
public struct FeatureExtractor: Sendable {
    /// Bump when templates, bins or hashing change: old models must then be refused.
    public static let layoutVersion: UInt64 = 3

    public enum Template: Int, CaseIterable, Sendable {
        case bias, type, item, category, device, channel, hour, weekday
        case count, total, gap, gapLog, ageLog, depth, sessions, cartItems, cartValueLog
        case itemViewed, itemCarted, distinctItems, distinctCategories, purchases
        case typeCart, typeItemCarted, typeDevice, typeGap, typeCategory, typeDepth
        case stage, stageType, stageDevice, stageChannel, stageHour, stagePrice, stageCategory
        case stagePurchases, stageSessions, stageGap, stageSessionCategory, sessionCategory, sessionPrice
        case categoryLift, stageCategoryLift, sessionCategoryLift

        /// The name `engine.model.exclude_features` knows it by.
        public var configName: String {
            switch self {
            case .bias: "bias"
            case .type: "type"
            case .item: "item"
            case .category: "category"
            case .device: "device"
            case .channel: "channel"
            case .hour: "hour"
            case .weekday: "weekday"
            case .count: "window_counts"
            case .total: "window_totals"
            case .gap: "gap"
            case .gapLog: "log_gap"
            case .ageLog: "log_age"
            case .depth: "session_depth"
            case .sessions: "sessions"
            case .cartItems: "cart_items"
            case .cartValueLog: "log_cart_value"
            case .itemViewed: "item_viewed_before"
            case .itemCarted: "item_carted_before"
            case .distinctItems: "distinct_items"
            case .distinctCategories: "distinct_categories"
            case .purchases: "purchases"
            case .typeCart: "type*cart"
            case .typeItemCarted: "type*item_carted_before"
            case .typeDevice: "type*device"
            case .typeGap: "type*gap"
            case .typeCategory: "type*category"
            case .typeDepth: "type*session_depth"
            case .stage: "stage"
            case .stageType: "stage*type"
            case .stageDevice: "stage*device"
            case .stageChannel: "stage*channel"
            case .stageHour: "stage*hour"
            case .stagePrice: "stage*session_price"
            case .stageCategory: "stage*category"
            case .stagePurchases: "stage*purchases"
            case .stageSessions: "stage*sessions"
            case .stageGap: "stage*gap"
            case .stageSessionCategory: "stage*session_category"
            case .sessionCategory: "session_category"
            case .sessionPrice: "session_price"
            case .categoryLift: "category_purchase_lift"
            case .stageCategoryLift: "stage*category_purchase_lift"
            case .sessionCategoryLift: "session_category_purchase_lift"
            }
        }

        /// The template `exclude_features` calls `name`, if any.
        public static func named(_ name: String) -> Template? { allCases.first { $0.configName == name } }
    }

    /// The furthest funnel stage of the user's current session (``UserRecord/sessionStage``).
    static let stageLabels = ["none", "viewed", "carted", "checkout", "purchased"]
    static let priceLabels = ["<2", "<4", "<8", "<16", "<32", "<64", "<128", "<256", "<512", ">=512"]

    static let typeCount = EventType.allCases.count
    static let gapLabels = ["new", "<10s", "<1m", "<5m", "<30m", "<1h", "<1d", ">=1d"]
    static let depthLabels = ["1", "2", "3-4", "5-8", "9-16", "17+"]
    static let totalLabels = ["0", "1", "2", "3-4", "5-8", "9+"]
    static let smallLabels = ["0", "1", "2", "3+"]
    static let distinctLabels = ["0-1", "2", "3-4", "5+"]

    public let mask: UInt32
    /// Display names by name id (`template:bin`).
    public let names: [String]
    /// First name id of each template.
    let base: [UInt16]
    let windowCount: Int
    /// The per-user window closest to the horizon: drives cart state and the funnel stage.
    public let horizonWindow: Int
    let horizonSeconds: UInt32
    public let fingerprint: UInt64
    /// Features without a key (everything but the id templates) own the slots `0..<denseSlots`,
    /// one each, collision-free and cache-resident; keyed features hash into the rest of the table.
    let denseSlots: UInt32
    /// Bit `t` set: template `t` is left out (`engine.model.exclude_features`).
    let excluded: UInt64

    /// - Parameter excluding: templates left out of every vector; they keep their name ids and
    ///   slots, so the table layout is the same, and the fingerprint tells the two layouts apart.
    public init(hashBits: Int, windowSeconds: [Int], horizonSeconds: Int, excluding: Set<Template> = []) {
        excluded = excluding.reduce(0) { $0 | 1 << UInt64($1.rawValue) }
        mask = UInt32(truncatingIfNeeded: (1 << hashBits) - 1)
        windowCount = min(windowSeconds.count, UserRecord.maxWindows)
        var best = 0
        for (i, w) in windowSeconds.prefix(windowCount).enumerated()
        where abs(w - horizonSeconds) < abs(windowSeconds[best] - horizonSeconds) { best = i }
        horizonWindow = best
        self.horizonSeconds = UInt32(clamping: horizonSeconds)

        let types = EventType.allCases.map(\.name)
        let groups = EventType.windowGroupNames
        var table: [String] = []
        var bases: [UInt16] = []
        func add(_ labels: [String]) {
            bases.append(UInt16(table.count))
            table.append(contentsOf: labels)
        }
        let used = windowCount
        let windows = (0..<UserRecord.maxWindows).map { $0 < used ? "\(windowSeconds[$0])s" : "w\($0)" }
        for t in Template.allCases {
            switch t {
            case .bias: add(["bias"])
            case .type: add(types.map { "type:\($0)" })
            case .item: add(["item"])
            case .category: add(["category"])
            case .device: add(["device"])
            case .channel: add(["channel"])
            case .hour: add((0..<24).map { "hour:\($0)" })
            case .weekday: add((0..<7).map { "weekday:\($0)" })
            case .count: add(windows.flatMap { w in groups.map { "log_count_\($0)_\(w)" } })
            case .total: add(windows.flatMap { w in Self.totalLabels.map { "events_\(w):\($0)" } })
            case .gap: add(Self.gapLabels.map { "gap:\($0)" })
            case .gapLog: add(["log_gap"])
            case .ageLog: add(["log_age"])
            case .depth: add(Self.depthLabels.map { "session_depth:\($0)" })
            case .sessions: add(Self.smallLabels.map { "sessions:\($0)" })
            case .cartItems: add(Self.smallLabels.map { "cart_items:\($0)" })
            case .cartValueLog: add(["log_cart_value"])
            case .itemViewed: add(["item_viewed_before"])
            case .itemCarted: add(["item_carted_before"])
            case .distinctItems: add(Self.distinctLabels.map { "distinct_items:\($0)" })
            case .distinctCategories: add(Self.distinctLabels.map { "distinct_categories:\($0)" })
            case .purchases: add(["purchases:0", "purchases:1", "purchases:2+"])
            case .typeCart: add(types.flatMap { ["type:\($0)*cart:no", "type:\($0)*cart:yes"] })
            case .typeItemCarted: add(types.map { "type:\($0)*item_carted_before" })
            case .typeDevice: add(types.map { "type:\($0)*device" })
            case .typeGap: add(types.flatMap { t in Self.gapLabels.map { "type:\(t)*gap:\($0)" } })
            case .typeCategory: add(types.map { "type:\($0)*category" })
            case .typeDepth: add(types.flatMap { t in Self.depthLabels.map { "type:\(t)*session_depth:\($0)" } })
            case .stage: add(Self.stageLabels.map { "stage:\($0)" })
            case .stageType: add(Self.stageLabels.flatMap { s in types.map { "stage:\(s)*type:\($0)" } })
            case .stageDevice: add(Self.stageLabels.map { "stage:\($0)*device" })
            case .stageChannel: add(Self.stageLabels.map { "stage:\($0)*channel" })
            case .stageHour: add(Self.stageLabels.flatMap { s in (0..<24).map { "stage:\(s)*hour:\($0)" } })
            case .stagePrice:
                add(Self.stageLabels.flatMap { s in Self.priceLabels.map { "stage:\(s)*session_price:\($0)" } })
            case .stageCategory: add(Self.stageLabels.map { "stage:\($0)*category" })
            case .stagePurchases:
                add(Self.stageLabels.flatMap { s in ["0", "1", "2+"].map { "stage:\(s)*purchases:\($0)" } })
            case .stageSessions: add(Self.stageLabels.flatMap { s in Self.smallLabels.map { "stage:\(s)*sessions:\($0)" } })
            case .sessionCategory: add(["session_category"])
            case .sessionPrice: add(Self.priceLabels.map { "session_price:\($0)" })
            case .stageSessionCategory: add(Self.stageLabels.map { "stage:\($0)*session_category" })
            case .stageGap: add(Self.stageLabels.flatMap { s in Self.gapLabels.map { "stage:\(s)*gap:\($0)" } })
            case .categoryLift: add(["category_purchase_lift"])
            case .stageCategoryLift: add(Self.stageLabels.map { "stage:\($0)*category_purchase_lift" })
            case .sessionCategoryLift: add(["session_category_purchase_lift"])
            }
        }
        names = table
        base = bases
        denseSlots = UInt32(table.count)
        precondition(2 * table.count <= 1 << hashBits, "hash_bits too small for the feature layout")
        var fp = StableHash.combine(Self.layoutVersion, UInt64(hashBits))
        fp = StableHash.combine(fp, UInt64(horizonSeconds))
        for w in windowSeconds.prefix(windowCount) { fp = StableHash.combine(fp, UInt64(w)) }
        // Only a non-empty exclusion changes the fingerprint: models saved with every feature load as before.
        if excluded != 0 { fp = StableHash.combine(fp, excluded) }
        fingerprint = fp
    }

    /// Whether `template` goes into the vectors.
    @inline(__always)
    func includes(_ template: Template) -> Bool { excluded & (1 << UInt64(template.rawValue)) == 0 }

    /// The slot of an unkeyed template's first bin.
    func slot(of template: Template) -> Int { Int(base[template.rawValue]) }

    // MARK: - Extraction

    /// Builds the features of `event` from `user` (which already includes the event) and `context`
    /// (computed before the event was added).
    ///
    /// It returns the vector rather than filling an `inout` one so that the model can bind it to a
    /// constant, which the compiler copies less often than a local `var` (648 bytes a copy).
    public func extract(_ event: Event, context: EventContext, user: UserRecord,
                        rates: borrowing CategoryRates) -> FeatureVector {
        var v = FeatureVector()
        let now = UInt32(clamping: max(0, event.timestamp / 1_000_000))
        let t = Int(event.type.rawValue)
        put(&v, .bias, 0)
        put(&v, .type, t)
        if event.itemKey != 0 { put(&v, .item, 0, key: event.itemKey) }
        if event.categoryKey != 0 { put(&v, .category, 0, key: event.categoryKey) }
        if event.deviceKey != 0 { put(&v, .device, 0, key: event.deviceKey) }
        if event.channelKey != 0 { put(&v, .channel, 0, key: event.channelKey) }
        put(&v, .hour, Int(now / 3600 % 24))
        put(&v, .weekday, Int((now / 86_400 + 4) % 7))

        let gapSeconds = Double(context.sincePrevious) / 1_000_000
        let gap = context.isNewUser ? 0 : Self.gapBin(gapSeconds)
        put(&v, .gap, gap)
        if !context.isNewUser, includes(.gapLog) { put(&v, .gapLog, 0, value: Self.log1p(gapSeconds) / 8) }
        let age = Double(now &- min(now, user.firstSeen))
        if age > 0, includes(.ageLog) { put(&v, .ageLog, 0, value: Self.log1p(age) / 8) }
        let depth = Self.depthBin(Int(user.sessionDepth))
        put(&v, .depth, depth)
        put(&v, .sessions, Self.smallBin(Int(user.sessions) - 1))
        put(&v, .cartItems, Self.smallBin(Int(user.cartItems)))
        if user.cartValue > 0, includes(.cartValueLog) { put(&v, .cartValueLog, 0, value: Self.log1p(Double(user.cartValue)) / 8) }
        if context.itemViewedBefore { put(&v, .itemViewed, 0) }
        if context.itemCartedBefore { put(&v, .itemCarted, 0) }
        if includes(.distinctItems) || includes(.distinctCategories) {
            let distinct = user.distinctRecent(now: now, seconds: horizonSeconds)
            put(&v, .distinctItems, Self.distinctBin(distinct.items))
            put(&v, .distinctCategories, Self.distinctBin(distinct.categories))
        }
        put(&v, .purchases, min(Int(user.purchases), 2))

        let carted = user.cartItems > 0 || user.count(window: horizonWindow, group: 1) > 0
        put(&v, .typeCart, t * 2 + (carted ? 1 : 0))
        if context.itemCartedBefore { put(&v, .typeItemCarted, t) }
        if event.deviceKey != 0 { put(&v, .typeDevice, t, key: event.deviceKey) }
        put(&v, .typeGap, t * Self.gapLabels.count + gap)
        if event.categoryKey != 0 { put(&v, .typeCategory, t, key: event.categoryKey) }
        put(&v, .typeDepth, t * Self.depthLabels.count + depth)

        // The funnel stage and what moves conversion at each stage differently.
        let stage = Int(user.sessionStage)
        put(&v, .stage, stage)
        put(&v, .stageType, stage * Self.typeCount + t)
        if event.deviceKey != 0 { put(&v, .stageDevice, stage, key: event.deviceKey) }
        if event.channelKey != 0 { put(&v, .stageChannel, stage, key: event.channelKey) }
        put(&v, .stageHour, stage * 24 + Int(now / 3600 % 24))
        if user.sessionPrice > 0 {
            put(&v, .sessionPrice, Int(user.sessionPrice) - 1)
            put(&v, .stagePrice, stage * Self.priceLabels.count + Int(user.sessionPrice) - 1)
        }
        if user.sessionCategory != 0 {
            put(&v, .sessionCategory, 0, key: UInt64(user.sessionCategory))
            put(&v, .stageSessionCategory, stage, key: UInt64(user.sessionCategory))
        }
        if event.categoryKey != 0 { put(&v, .stageCategory, stage, key: event.categoryKey) }
        put(&v, .stagePurchases, stage * 3 + min(Int(user.purchases), 2))
        put(&v, .stageSessions, stage * 4 + Self.smallBin(Int(user.sessions) - 1))
        put(&v, .stageGap, stage * Self.gapLabels.count + gap)
        let category = CategoryRates.key(ofCategory: event.categoryKey)
        let lift = includes(.categoryLift) || includes(.stageCategoryLift) || includes(.sessionCategoryLift)
            ? rates.lift(key: category) : 0
        if category != 0 {
            put(&v, .categoryLift, 0, value: lift)
            put(&v, .stageCategoryLift, stage, value: lift)
        }
        if user.sessionCategory != 0, includes(.sessionCategoryLift) {
            // Mostly the event's own category: its lift is already at hand.
            let sessionLift = user.sessionCategory == category ? lift : rates.lift(key: user.sessionCategory)
            put(&v, .sessionCategoryLift, 0, value: sessionLift)
        }

        // Last: the per-window counts, the only templates whose number varies.
        for w in 0..<windowCount where includes(.count) || includes(.total) {
            var total = 0
            for g in 0..<EventType.windowGroupCount {
                let c = user.count(window: w, group: g)
                total += c
                if c > 0 { put(&v, .count, w * EventType.windowGroupCount + g, value: Self.logCount(c)) }
            }
            put(&v, .total, w * Self.totalLabels.count + Self.totalBin(total))
        }
        return v
    }

    /// Appends one feature to `v` unless its template is excluded (templates whose value takes a
    /// logarithm check ``includes(_:)`` before computing it). A method, not a closure capturing the
    /// vector: a captured `var` is checked for exclusive access at run time on every call.
    @inline(__always)
    private func put(_ v: inout FeatureVector, _ template: Template, _ bin: Int, key: UInt64 = 0, value: Float = 1) {
        guard includes(template) else { return }
        let name = base[template.rawValue] &+ UInt16(truncatingIfNeeded: bin)
        guard key != 0 else {
            v.append(index: UInt32(name), value: value, name: name)
            return
        }
        // Multiply-shift range reduction of the hash onto the keyed slots.
        let h = UInt64(UInt32(truncatingIfNeeded: StableHash.combine(key, UInt64(name))))
        let keyed = UInt64(mask &+ 1 &- denseSlots)
        v.append(index: denseSlots &+ UInt32(truncatingIfNeeded: (h &* keyed) >> 32), value: value, name: name)
    }

    // MARK: - Bins

    @inline(__always) static func log1p(_ x: Double) -> Float { Float(MathShim.log1p(x)) }

    /// log(1 + c) of a window count: counts below 256 (nearly all) read the value from a table.
    @inline(__always) static func logCount(_ c: Int) -> Float {
        c >= 0 && c < countLogs.count ? countLogs[c] : log1p(Double(c))
    }
    static let countLogs: [Float] = (0..<256).map { log1p(Double($0)) }

    static func gapBin(_ s: Double) -> Int {
        s < 10 ? 1 : s < 60 ? 2 : s < 300 ? 3 : s < 1800 ? 4 : s < 3600 ? 5 : s < 86_400 ? 6 : 7
    }
    static func depthBin(_ d: Int) -> Int { d <= 1 ? 0 : d == 2 ? 1 : d <= 4 ? 2 : d <= 8 ? 3 : d <= 16 ? 4 : 5 }
    static func totalBin(_ n: Int) -> Int { n <= 2 ? max(n, 0) : n <= 4 ? 3 : n <= 8 ? 4 : 5 }
    static func smallBin(_ n: Int) -> Int { min(max(n, 0), 3) }
    static func priceBin(_ p: Double) -> Int {
        var bin = 0
        var bound = 2.0
        while bin < priceLabels.count - 1 && p >= bound {
            bin += 1
            bound *= 2
        }
        return bin
    }

    /// The funnel stage an event type reaches: 1 viewed, 2 carted, 3 checkout, 4 purchased, else 0.
    @inline(__always)
    public static func stage(of type: EventType) -> UInt8 {
        switch type {
        case .view: 1
        case .cart: 2
        case .checkout: 3
        case .purchase: 4
        default: 0
        }
    }
    static func distinctBin(_ n: Int) -> Int { n <= 1 ? 0 : n == 2 ? 1 : n <= 4 ? 2 : 3 }
}

extension FeatureExtractor: Codable {}
