/// The cart-abandonment signal: published once per cart when its holder goes idle for
/// `idle_seconds` of event time, or (model on, `score_threshold` > 0) when one of their events
/// scores below the threshold.
///
/// A cart opens when a user with an empty cart adds an item and closes when it empties or the user
/// buys. Only open carts are tracked (a map entry and one deadline in a heap per cart), so users
/// without carts cost nothing. Deadlines are checked against the watermark, never the wall clock.
public struct CartAbandonmentTracker: Sendable {
    struct OpenCart: Sendable {
        var openedAt: Int64
        var signalled: Bool
        /// The user id as sent (short ids are stored inline by `String`).
        var user: String
    }

    public let config: CartAbandonmentConfig
    let idleMicros: Int64
    private var carts = U64Map<OpenCart>(minimumCapacity: 1024)
    struct Deadline: Comparable, Sendable {
        var time: Int64
        var user: UInt64
        static func < (a: Self, b: Self) -> Bool { a.time != b.time ? a.time < b.time : a.user < b.user }
    }

    private var deadlines = MinHeap<Deadline>()
    /// Signals published so far, by reason.
    public private(set) var idleSignals = 0
    public private(set) var scoreSignals = 0
    /// When set, the signal's user entity (and its id) is a pseudonym.
    public internal(set) var pseudonymizer: UserPseudonymizer? {
        get { pseudonymizerSlot.value }
        set { pseudonymizerSlot.value = newValue }
    }
    private var pseudonymizerSlot = UserPseudonymizerSlot()

    /// At most this many carts are watched (one per tracked user, `max_users`); beyond it the cart
    /// whose deadline comes first is forgotten without a signal and counted in ``evictedCarts``.
    public let maxCarts: Int
    /// Carts forgotten by ``maxCarts``.
    public private(set) var evictedCarts = 0

    public init(config: CartAbandonmentConfig, maxCarts: Int = .max) {
        self.config = config
        self.maxCarts = max(maxCarts, 16)
        idleMicros = Int64(config.idleSeconds) * 1_000_000
    }

    /// Open carts being watched.
    public var openCarts: Int { carts.count }

    /// Follows the user's cart after `event` has been applied to `user`.
    @inline(__always)
    mutating func observe(_ event: Event, user: UserRecord, record: UnsafeRawBufferPointer) {
        guard config.enabled else { return }
        if user.cartItems == 0 {
            if event.type == .purchase || event.type == .removeFromCart, carts[event.userKey] != nil {
                carts[event.userKey] = nil
            }
            return
        }
        guard event.type == .cart, carts[event.userKey] == nil else { return }
        carts[event.userKey] = OpenCart(openedAt: event.timestamp, signalled: false,
                                        user: TextField.string(event.user, in: record))
        deadlines.push(Deadline(time: event.timestamp &+ idleMicros, user: event.userKey))
        if carts.count > maxCarts || deadlines.count > 2 &* maxCarts { evictOldest() }
    }

    /// Forgets the carts whose deadlines come first until the carts and the deadline heap (which
    /// also holds deadlines of carts already closed) are within their caps.
    private mutating func evictOldest() {
        while carts.count > maxCarts || deadlines.count > 2 &* maxCarts, let entry = deadlines.pop() {
            guard carts[entry.user] != nil else { continue }
            carts[entry.user] = nil
            evictedCarts += 1
        }
    }

    /// A low score for a cart holder's event signals at once.
    mutating func scored(_ probability: Double, event: Event, user: UserRecord, emit: (Alert) -> Void) {
        guard config.enabled, config.scoreThreshold > 0, probability < config.scoreThreshold,
            var cart = carts[event.userKey], !cart.signalled, Double(user.cartValue) >= config.minCartValue
        else { return }
        cart.signalled = true
        carts[event.userKey] = cart
        scoreSignals += 1
        var alert = signal(cart, user: user, reason: "low_score", time: event.timestamp)
        alert.evidence.append(AlertEvidence("score", probability))
        alert.evidence.append(AlertEvidence("score_threshold", config.scoreThreshold))
        emit(alert)
    }

    /// Next deadline at or before `watermark`, removed from the heap.
    mutating func popDue(_ watermark: Int64) -> (deadline: Int64, user: UInt64)? {
        guard let next = deadlines.min, next.time <= watermark, let entry = deadlines.pop() else { return nil }
        return (entry.time, entry.user)
    }

    /// Decides a due deadline: signal, re-arm (the user was active since) or forget.
    mutating func due(user key: UInt64, record user: UserRecord?, watermark: Int64, emit: (Alert) -> Void) {
        guard var cart = carts[key] else { return }
        guard let user, user.cartItems > 0 else {
            carts[key] = nil
            return
        }
        let idleAt = user.lastSeen &+ idleMicros
        if idleAt > watermark {
            deadlines.push(Deadline(time: idleAt, user: key))
            return
        }
        if cart.signalled {
            carts[key] = nil
            return
        }
        cart.signalled = true
        carts[key] = cart
        guard Double(user.cartValue) >= config.minCartValue else { return }
        idleSignals += 1
        var alert = signal(cart, user: user, reason: "idle", time: idleAt)
        alert.evidence.append(AlertEvidence("idle_seconds", Double(config.idleSeconds)))
        emit(alert)
        // Forget the cart once its holder has been idle a second period (the entry only guards
        // against signalling the same cart twice while the user may still return).
        deadlines.push(Deadline(time: idleAt &+ idleMicros, user: key))
    }

    // MARK: - Partition handover

    /// An open cart as it moves with its user, with the deadlines pending for it.
    struct Handed: Codable, Sendable {
        var user: UInt64
        var cart: OpenCart
        var deadlines: [Int64]
    }

    /// Detaches the open carts of `users` and their deadlines (not a signal, not a forget).
    mutating func handOver(users: Set<UInt64>) -> [Handed] {
        var out: [Handed] = []
        for user in users {
            guard let cart = carts[user] else { continue }
            carts[user] = nil
            out.append(Handed(user: user, cart: cart, deadlines: []))
        }
        guard !out.isEmpty else { return [] }
        let moved = Set(out.map(\.user))
        var times: [UInt64: [Int64]] = [:]
        for deadline in deadlines.removeAll(where: { moved.contains($0.user) }) {
            times[deadline.user, default: []].append(deadline.time)
        }
        for i in out.indices { out[i].deadlines = times[out[i].user] ?? [] }
        return out
    }

    /// Takes over carts another engine was watching. `keep` says whether the user's imported
    /// record won (``UserStore/insert(handedOver:source:)``); if not, the local cart stays.
    mutating func takeOver(_ handed: [Handed], keep: (UInt64) -> Bool) {
        for entry in handed where keep(entry.user) {
            carts[entry.user] = entry.cart
            for time in entry.deadlines { deadlines.push(Deadline(time: time, user: entry.user)) }
        }
    }

    private func signal(_ cart: OpenCart, user: UserRecord, reason: String, time: Int64) -> Alert {
        let entity = pseudonymizer?.pseudonym(cart.user) ?? cart.user
        var alert = Alert(
            id: "cart_abandonment:user:\(entity):\(cart.openedAt / 1000)", kind: .cartAbandonment, state: .signal,
            severity: .info, time: time, since: cart.openedAt, entityType: "user", entity: entity,
            message: "cart of \(user.cartItems) item(s) worth \(Double(user.cartValue)) abandoned (\(reason))")
        alert.evidence = [
            AlertEvidence("cart_items", Double(user.cartItems)), AlertEvidence("cart_value", Double(user.cartValue)),
            AlertEvidence("cart_age_seconds", Double(time - cart.openedAt) / 1_000_000),
        ]
        alert.value = reason
        return alert
    }
}

extension CartAbandonmentTracker: Codable {}

extension CartAbandonmentTracker.OpenCart: Codable {}

extension CartAbandonmentTracker.Deadline: Codable {}
