import Testing
@testable import FunnelCore

/// Label resolution exactly as the conversion protocol defines it: y = 1 iff a purchase of the same
/// user at t' with t < t' ≤ t + H; negatives resolve when t + H < watermark.
struct ModelLabelTests {
    let h = 1800.0

    func resolve(_ events: [Event], lateness: Double = 0, maxUsers: Int = 1000) throws -> ModelStats {
        var engine = try Engine(config: ModelFixture.config(lateness: lateness, maxUsers: maxUsers))
        _ = ModelFixture.run(events, engine: &engine)
        return try #require(engine.model).stats
    }

    @Test func purchaseAtPredictionTimeIsNotPositive() throws {
        let s = try resolve([ModelFixture.event("a", 100), ModelFixture.event("a", 100, .purchase)])
        #expect(s.predictions == 1)
        #expect(s.resolvedPositive == 0)
    }

    @Test func purchaseExactlyAtHorizonIsPositive() throws {
        let s = try resolve([ModelFixture.event("a", 100), ModelFixture.event("a", 100 + h, .purchase)])
        #expect(s.resolvedPositive == 1)
        #expect(s.resolvedNegative == 0)
    }

    @Test func purchaseAfterHorizonIsNegative() throws {
        let s = try resolve([ModelFixture.event("a", 100), ModelFixture.event("a", 100 + h + 1, .purchase)])
        #expect(s.resolvedPositive == 0)
        #expect(s.resolvedNegative == 1)
    }

    @Test func negativeResolvesOnlyOnceWatermarkPassesHorizon() throws {
        var engine = try Engine(config: ModelFixture.config())
        _ = ModelFixture.run([ModelFixture.event("a", 100), ModelFixture.event("b", 100 + h)], engine: &engine)
        #expect(engine.model?.stats.resolvedNegative == 0)  // t + H == wm: not yet
        _ = ModelFixture.run([ModelFixture.event("b", 100 + h + 0.001)], engine: &engine)
        #expect(engine.model?.stats.resolvedNegative == 1)
    }

    @Test func purchaseOfAnotherUserDoesNotResolve() throws {
        let s = try resolve([ModelFixture.event("a", 100), ModelFixture.event("b", 200, .purchase)])
        #expect(s.resolvedPositive == 0)
    }

    @Test func outOfOrderPurchaseWithinLateness() throws {
        // wm = 105 − 10 = 95, so the purchase at 101 is accepted and resolves a's prediction at 100,
        // but not b's prediction at 103 (b did not buy) nor a's at 104 (t' < t).
        let s = try resolve([ModelFixture.event("a", 100), ModelFixture.event("b", 103), ModelFixture.event("a", 104),
                             ModelFixture.event("c", 105), ModelFixture.event("a", 101, .purchase)], lateness: 10)
        #expect(s.resolvedPositive == 1)
    }

    @Test func userEvictedWhilePendingKeepsLabel() throws {
        // maxUsers 1: b evicts a from the engine's user table; the pending store has its own index.
        var engine = try Engine(config: ModelFixture.config(maxUsers: 1))
        _ = ModelFixture.run([ModelFixture.event("a", 100), ModelFixture.event("b", 101),
                              ModelFixture.event("a", 500, .purchase)], engine: &engine)
        #expect(engine.users.evictedCapacity >= 1)
        #expect(engine.model?.stats.resolvedPositive == 1)
    }

    @Test func allPendingPredictionsOfAUserResolveTogether() throws {
        let s = try resolve([ModelFixture.event("a", 100), ModelFixture.event("a", 200), ModelFixture.event("a", 300),
                             ModelFixture.event("a", 400, .purchase), ModelFixture.event("a", 450, .purchase)])
        #expect(s.resolvedPositive == 3)
    }

    @Test func finishResolvesRemainingAsNegative() throws {
        var engine = try Engine(config: ModelFixture.config())
        _ = ModelFixture.run([ModelFixture.event("a", 100), ModelFixture.event("b", 200)], engine: &engine, finish: true)
        #expect(engine.model?.stats.resolvedNegative == 2)
        #expect(engine.model?.pending.count == 0)
        #expect(engine.model?.quality.all.count == 2)
    }

    @Test func pendingOverflowDropsOldestUnlearned() throws {
        var config = ModelFixture.config()
        config.model.pendingCapacity = 16
        config.model.delay = .horizon
        var engine = try Engine(config: config)
        _ = ModelFixture.run((0..<20).map { ModelFixture.event("u\($0)", Double($0)) }, engine: &engine)
        #expect(engine.model?.stats.overflowDropped == 4)
        #expect(engine.model?.pending.count == 16)
        #expect(engine.model?.learner.updates == 0)
    }
}
