import Testing
@testable import FunnelCore

@Suite("Per-user windows, sessions, eviction")
struct UserWindowTests {
    @Test func slidingCountsRotateInEventTime() throws {
        let lines = [
            jsonEvent("a", "view", base), jsonEvent("a", "view", base + 5), jsonEvent("a", "cart", base + 10),
        ]
        let (engine, _) = try run(lines, finish: false)
        let slot = try #require(engine.users.slot(of: key("a")))
        let u = engine.users[slot]
        #expect(u.count(window: 0, group: EventType.view.windowGroup) == 2)
        #expect(u.count(window: 0, group: EventType.cart.windowGroup) == 1)
        #expect(u.total(window: 3) == 3)

        // Two minutes later the 1-minute window has forgotten them; the 30-minute one has not.
        let (later, _) = try run(lines + [jsonEvent("a", "view", base + 130)], finish: false)
        let v = later.users[try #require(later.users.slot(of: key("a")))]
        #expect(v.count(window: 0, group: EventType.view.windowGroup) == 1)
        #expect(v.count(window: 0, group: EventType.cart.windowGroup) == 0)
        #expect(v.count(window: 2, group: EventType.view.windowGroup) == 3)
        #expect(v.sessionDepth == 4)
    }

    @Test func outOfOrderEventLandsInItsOwnBucket() throws {
        var config = EngineConfig()
        config.allowedLatenessSeconds = 30
        let (engine, sink) = try run([jsonEvent("a", "view", base + 100), jsonEvent("a", "cart", base + 80)],
                                     config: config, finish: false)
        #expect(sink.deadLetters.isEmpty)
        let u = engine.users[try #require(engine.users.slot(of: key("a")))]
        #expect(u.count(window: 1, group: EventType.cart.windowGroup) == 1)
        #expect(u.lastSeen == Int64((base + 100) * 1_000_000))
    }

    @Test func sessionsByInactivityGapAndBySessionID() throws {
        let lines = [
            jsonEvent("a", "view", base), jsonEvent("a", "view", base + 1799), jsonEvent("a", "view", base + 1799 + 1801),
        ]
        let (engine, sink) = try run(lines, finish: false)
        #expect(sink.accepted.map(\.context.isNewSession) == [true, false, true])
        let u = engine.users[try #require(engine.users.slot(of: key("a")))]
        #expect(u.sessions == 2)
        #expect(u.sessionDepth == 1)

        let withIDs = [
            jsonEvent("b", "view", base, extra: "\"session_id\":\"s1\""),
            jsonEvent("b", "view", base + 10, extra: "\"session_id\":\"s2\""),
            jsonEvent("b", "view", base + 4000, extra: "\"session_id\":\"s2\""),
        ]
        let (_, s2) = try run(withIDs, finish: false)
        // The producer's session id wins over the gap rule.
        #expect(s2.accepted.map(\.context.isNewSession) == [true, true, false])
    }

    /// The session's furthest funnel stage and its entry product (first category, first price) are
    /// what the model crosses its features with; each starts over with the next session.
    @Test func sessionStageAndEntryProductResetWithTheSession() throws {
        let lines = [
            jsonEvent("a", "page", base),
            jsonEvent("a", "view", base + 10, item: "x", extra: "\"category\":\"shoes\",\"price\":40"),
            jsonEvent("a", "view", base + 20, item: "y", extra: "\"category\":\"hats\",\"price\":3"),
            jsonEvent("a", "cart", base + 30, item: "x", extra: "\"category\":\"shoes\",\"price\":40"),
            jsonEvent("a", "page", base + 40),
        ]
        let (engine, _) = try run(lines, finish: false)
        let u = engine.users[try #require(engine.users.slot(of: key("a")))]
        #expect(u.sessionStage == FeatureExtractor.stage(of: .cart))
        #expect(u.sessionCategory == UInt16(truncatingIfNeeded: StableHash.hash("shoes") >> 48) | 1)
        #expect(u.sessionPrice == UInt8(1 + FeatureExtractor.priceBin(40)))
        #expect(FeatureExtractor.priceBin(40) == 5)  // [32, 64)

        // A new session (gap > 30 min) starts with no stage beyond its own events and no entry product.
        let (next, _) = try run(lines + [jsonEvent("a", "page", base + 40 + 1801)], finish: false)
        let v = next.users[try #require(next.users.slot(of: key("a")))]
        #expect(v.sessions == 2)
        #expect(v.sessionStage == 0)
        #expect(v.sessionCategory == 0)
        #expect(v.sessionPrice == 0)
    }

    @Test func itemFlagsAndCart() throws {
        let lines = [
            jsonEvent("a", "view", base, item: "x"),
            jsonEvent("a", "cart", base + 1, item: "x", extra: "\"price\":10,\"quantity\":2"),
            jsonEvent("a", "cart", base + 2, item: "y", extra: "\"price\":5"),
            jsonEvent("a", "view", base + 3, item: "x"),
        ]
        let (engine, sink) = try run(lines, finish: false)
        #expect(sink.accepted.map(\.context.itemViewedBefore) == [false, true, false, true])
        #expect(sink.accepted.map(\.context.itemCartedBefore) == [false, false, false, true])
        let u = engine.users[try #require(engine.users.slot(of: key("a")))]
        #expect(u.cartItems == 3)
        #expect(u.cartValue == 25)
        #expect(u.distinctRecent(now: UInt32(base + 3), seconds: 1800).items == 2)
        let (after, _) = try run(lines + [jsonEvent("a", "purchase", base + 4)], finish: false)
        #expect(after.users[try #require(after.users.slot(of: key("a")))].cartItems == 0)
    }

    @Test func idleUsersEvictedByEventTimeTTL() throws {
        var config = EngineConfig()
        config.userTTLSeconds = 600
        config.allowedLatenessSeconds = 0
        config.funnels[0].conversionWindowSeconds = 300
        config.alerts.cartAbandonment.enabled = false  // its 30-minute idle period needs a longer TTL
        var lines = [jsonEvent("idle", "view", base)]
        lines += (1...20).map { jsonEvent("busy", "view", base + Double($0) * 60) }
        let (engine, _) = try run(lines, config: config, finish: false)
        #expect(engine.users.slot(of: key("idle")) == nil)
        #expect(engine.users.evictedIdle == 1)
        #expect(engine.users.count == 1)
    }

    @Test func hardCapEvictsLeastRecentlyActive() throws {
        var config = EngineConfig()
        config.maxUsers = 3
        let lines = ["a", "b", "c", "a", "d"].enumerated().map { jsonEvent($1, "view", base + Double($0)) }
        let (engine, _) = try run(lines, config: config, finish: false)
        #expect(engine.users.count == 3)
        #expect(engine.users.evictedCapacity == 1)
        #expect(engine.users.slot(of: key("b")) == nil)  // b was least recently active
        for u in ["a", "c", "d"] { #expect(engine.users.slot(of: key(u)) != nil) }
    }

    @Test func storeSurvivesChurnWithConsistentIndex() throws {
        var store = UserStore(capacity: 1000)
        var alive = Set<UInt64>()
        var rng = SimRandom(seed: 7)
        for _ in 0..<6_000 {
            let k = rng.next() % 3000 + 1
            let (slot, _) = store.findOrInsert(k)
            store[slot].lastSeen = Int64(rng.next() % 1000)
            alive.insert(k)
            if alive.count > 1000 { alive = Set(store.slotsInActivityOrder().map { store[$0].key }) }
        }
        let listed = Set(store.slotsInActivityOrder().map { store[$0].key })
        #expect(listed.count == store.count)
        for k in listed { #expect(store.slot(of: k) != nil) }
        #expect(store.count == 1000)
    }
}
