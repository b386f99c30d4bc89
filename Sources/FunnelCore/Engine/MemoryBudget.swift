/// The most memory the engine's state can take under a configuration, table by table, and how many
/// users fit in `engine.memory_limit_mb`.
///
/// Every table the engine keeps is bounded by a setting: the dedupe table by `dedupe_capacity`,
/// the model by `hash_bits`, pending labels by `pending_capacity`, the fraud tables by their
/// capacities, and everything per user (the user record and its index, one open funnel attempt
/// per funnel with its expiry, one open cart with its deadline) by `max_users`, since open attempts
/// and open carts are capped at one per tracked user. The figures here are upper bounds: tables
/// at their largest load, plus the moment a growing hash table holds both its old and its new
/// array. The user slab is reserved once at its final size when a limit is set, so it never holds
/// two copies.
///
/// With `memory_limit_mb` set, the users that fit are `(limit − fixed) / bytes per user`, and the
/// engine tracks at most that many (or `max_users`, when smaller). Memory outside the engine
/// (the process's code and runtime, librdkafka's queues in `run`) is not part of the budget.
public struct MemoryBudget: Sendable, Equatable {
    public struct Part: Sendable, Equatable {
        public var name: String
        public var bytes: Int
    }

    /// Tables whose size does not depend on the number of users.
    public private(set) var fixed: [Part] = []
    /// Everything one tracked user can cost at most.
    public private(set) var perUser: [Part] = []

    public var fixedBytes: Int { fixed.reduce(0) { $0 + $1.bytes } }
    public var bytesPerUser: Int { perUser.reduce(0) { $0 + $1.bytes } }

    public init(config: EngineConfig) {
        // Dedupe: two generations of at most `capacity` ids; the table keeps load ≤ 1/2 and is
        // rebuilt (old + new arrays) when it doubles.
        if config.dedupeWindowSeconds > 0 {
            let live = 2 * max(config.dedupeCapacity, 16) + 1
            let slots = max(Self.powerOfTwo(atLeast: 2 * live), 1 << 12)
            fixed.append(Part(name: "dedupe", bytes: slots * MemoryLayout<Deduplicator.Slot>.stride * 3 / 2))
        }
        if config.model.enabled {
            fixed.append(Part(name: "model", bytes: (1 << config.model.hashBits) * 3 * MemoryLayout<Float>.stride
                + CategoryRates.tableBytes))
            let entries = PendingBlocks.maxEntries(capacity: max(16, config.model.pendingCapacity))
            fixed.append(Part(name: "pending_labels", bytes: entries * PendingStore.bytesPerEntry))
        }
        if config.alerts.enabled {
            let entities = EntityDetector(config: config.alerts.entities, windowSeconds: config.windowSeconds)
            fixed.append(Part(name: "fraud_tables", bytes: entities.tableBytes))
        }

        // Per user. Hash tables (load ≤ 1/2, doubling): at most 4 slots per entry, 6 while growing.
        perUser.append(Part(name: "user_record", bytes: UserStore.recordBytes))
        perUser.append(Part(name: "user_index", bytes: 6 * MemoryLayout<UInt32>.stride + MemoryLayout<UInt32>.stride))
        let attemptSlot = MemoryLayout<UInt64>.stride + MemoryLayout<FunnelTracker.Attempt?>.stride
        // The expiry queue holds at most two entries per open attempt (see FunnelTracker), in an
        // array that may have doubled.
        let attempt = 6 * attemptSlot + 4 * MemoryLayout<FunnelTracker.Expiry>.stride
        perUser.append(Part(name: "funnel_attempts", bytes: attempt * max(config.funnels.count, 1)))
        if config.alerts.enabled, config.alerts.cartAbandonment.enabled {
            let cartSlot = MemoryLayout<UInt64>.stride + MemoryLayout<CartAbandonmentTracker.OpenCart?>.stride
            // Ids longer than 15 bytes live on the heap; the record bound caps them.
            let cart = 6 * cartSlot + 4 * MemoryLayout<CartAbandonmentTracker.Deadline>.stride + 64
            perUser.append(Part(name: "open_cart", bytes: cart))
        }
    }

    /// Users that fit in `limitBytes` beside the fixed tables (0 when the fixed tables alone do not).
    public func users(fitting limitBytes: Int) -> Int {
        max(0, limitBytes - fixedBytes) / max(bytesPerUser, 1)
    }

    /// The bound on the engine's state with `users` tracked users.
    public func bytes(users: Int) -> Int { fixedBytes + users * bytesPerUser }

    static func powerOfTwo(atLeast n: Int) -> Int {
        var p = 1
        while p < n { p <<= 1 }
        return p
    }
}

extension EngineConfig {
    /// The fewest users a memory limit must leave room for.
    public static let minimumUsersInMemoryLimit = 1000

    /// `max_users`, lowered to what fits in `memory_limit_mb` when that is set.
    public var effectiveMaxUsers: Int {
        guard let limit = memoryLimitMB else { return maxUsers }
        let fitting = MemoryBudget(config: self).users(fitting: limit * 1_048_576)
        return max(1, min(maxUsers, fitting))
    }
}
