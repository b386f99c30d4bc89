import Testing

@testable import FunnelCore

@Suite("Memory limit and state caps")
struct MemoryBudgetTests {
    /// A configuration whose fixed tables are small, so a limit of a few MiB leaves room for users.
    static var smallTables: EngineConfig {
        var c = EngineConfig()
        c.dedupeCapacity = 10_000
        c.model.hashBits = 12
        c.model.pendingCapacity = 1024
        c.alerts.entities.setTableCapacities(64)
        return c
    }

    @Test func aLimitLowersMaxUsersToWhatFits() throws {
        var config = Self.smallTables
        config.memoryLimitMB = 8
        try config.validate()
        let budget = MemoryBudget(config: config)
        let users = config.effectiveMaxUsers
        #expect(users < config.maxUsers)
        #expect(users >= EngineConfig.minimumUsersInMemoryLimit)
        // The bound with that many users is within the limit, one more user's worth is not.
        #expect(budget.bytes(users: users) <= 8 * 1_048_576)
        #expect(budget.bytes(users: users + 1) > 8 * 1_048_576)
        // Every table the engine keeps is in the budget.
        #expect(Set(budget.fixed.map(\.name)) == ["dedupe", "model", "pending_labels", "fraud_tables"])
        #expect(Set(budget.perUser.map(\.name)) == ["user_record", "user_index", "funnel_attempts", "open_cart"])
        #expect(budget.perUser.first { $0.name == "user_record" }?.bytes == UserStore.recordBytes)
        // A smaller max_users wins.
        config.maxUsers = 100
        #expect(config.effectiveMaxUsers == 100)
        // Without a limit, max_users as set.
        config.memoryLimitMB = nil
        config.maxUsers = 123_456
        #expect(config.effectiveMaxUsers == 123_456)
    }

    @Test func aLimitTooSmallForTheFixedTablesIsAClearError() {
        var config = EngineConfig()  // dedupe_capacity 4M dominates
        config.memoryLimitMB = 100
        #expect {
            try config.validate()
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.key == "engine.memory_limit_mb" && error.message.contains("dedupe")
                && error.message.contains("Raise it to at least")
        }
        config.memoryLimitMB = 0
        #expect(throws: ConfigError.self) { try config.validate() }
    }

    @Test func theEngineTracksAtMostTheUsersThatFit() throws {
        var config = Self.smallTables
        config.memoryLimitMB = 5
        let cap = config.effectiveMaxUsers
        let lines = (0..<(cap + 500)).map { jsonEvent("u\($0)", "view", base + Double($0) / 1000, item: "i") }
        let (engine, _) = try run(lines, config: config, finish: false)
        #expect(engine.users.capacity == cap)
        #expect(engine.users.count == cap)
        #expect(engine.users.evictedCapacity == 500)
    }

    @Test func openFunnelAttemptsAreCappedAtOnePerTrackedUser() throws {
        var config = EngineConfig()
        config.maxUsers = 50
        config.alerts.enabled = false
        // 500 users enter the funnel at the same moment: none expires by time. (Finishing applies
        // the buffered events and leaves open attempts in flight.)
        let lines = (0..<500).map { jsonEvent("u\($0)", "view", base, id: "e\($0)", item: "i") }
        let (engine, _) = try run(lines, config: config, finish: true)
        let funnels = config.funnels.count
        #expect(engine.funnels.openAttempts <= 50 * funnels)
        #expect(engine.funnels.evictedAttempts == Int64(500 - 50) * Int64(funnels))
        // Evicted attempts count as drops: every attempt that entered is converted, dropped or in flight.
        let steps = engine.funnels.funnels[0].totalStats
        #expect(steps[0].entered == 500)
        #expect(steps.reduce(0) { $0 + $1.dropped } == 450)
        #expect(steps.reduce(0) { $0 + $1.inFlight } == 50)
        for step in steps.dropLast() {
            #expect(step.entered == step.converted + step.dropped + step.inFlight)
        }
    }

    @Test func watchedCartsAreCappedAtOnePerTrackedUser() throws {
        var config = EngineConfig()
        config.maxUsers = 50
        config.model.enabled = false
        let lines = (0..<500).map {
            jsonEvent("u\($0)", "cart", base + Double($0) / 1000, id: "c\($0)", item: "i", extra: "\"price\":10")
        }
        let (engine, _) = try run(lines, config: config, finish: false)
        let carts = try #require(engine.alerts?.carts)
        #expect(carts.openCarts <= 50)
        #expect(carts.evictedCarts == 450)
    }

    @Test func capsAndCountersSurviveACheckpoint() throws {
        var config = Self.smallTables
        config.memoryLimitMB = 5
        let lines = (0..<300).map { jsonEvent("u\($0)", "view", base, id: "e\($0)", item: "i") }
        let (engine, _) = try run(lines, config: config, finish: false)
        let restored = try Engine(config: config, checkpoint: try engine.checkpoint())
        #expect(restored.users.capacity == engine.users.capacity)
        #expect(restored.funnels.maxOpenAttempts == engine.funnels.maxOpenAttempts)
        #expect(restored.funnels.evictedAttempts == engine.funnels.evictedAttempts)
    }
}
