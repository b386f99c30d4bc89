import Foundation
import Testing

@testable import FunnelCore

/// The per-category purchase rates the model reads as features: smoothing, decay in event time,
/// and the features that carry them into a score.
@Suite struct CategoryRatesTests {
    static let hot = CategoryRates.key(ofCategory: StableHash.hash("hot"))
    static let cold = CategoryRates.key(ofCategory: StableHash.hash("cold"))

    /// `events` events of `key` at second `at`, every `purchaseEvery`-th one a purchase (0: none).
    static func feed(_ rates: inout CategoryRates, _ key: UInt16, events: Int, purchaseEvery: Int, at seconds: Int64) {
        for i in 0..<events {
            rates.observe(key: key, purchase: purchaseEvery > 0 && i % purchaseEvery == 0, time: seconds * 1_000_000)
        }
    }

    @Test func unseenCategoriesAndEventsWithoutCategoryReadZero() {
        var rates = CategoryRates(halfLifeSeconds: 86_400)
        Self.feed(&rates, Self.hot, events: 500, purchaseEvery: 10, at: 1_000)
        #expect(rates.lift(key: Self.cold) == 0)
        #expect(rates.lift(key: 0) == 0)
        #expect(CategoryRates.key(ofCategory: 0) == 0)
    }

    /// The smoothed log lift over the stream's rate, by its formula: a category that converts
    /// above the stream reads positive, one that never converts reads negative.
    @Test func liftIsTheSmoothedLogRatioToTheStreamRate() {
        var rates = CategoryRates(halfLifeSeconds: 86_400)
        Self.feed(&rates, Self.hot, events: 1_000, purchaseEvery: 10, at: 1_000)
        Self.feed(&rates, Self.cold, events: 1_000, purchaseEvery: 0, at: 1_000)
        let r = Double(100 + 1) / Double(2_000 + 100)
        let m = Double(CategoryRates.priorEvents)
        let hot = log((100 + m * r) / ((1_000 + m) * r))
        let cold = log((0 + m * r) / ((1_000 + m) * r))
        #expect(abs(Double(rates.lift(key: Self.hot)) - hot) < 1e-5)
        #expect(abs(Double(rates.lift(key: Self.cold)) - cold) < 1e-5)
        #expect(hot > 0.6 && cold < -2.5)
    }

    /// Counts halve every half-life of event time; events of the same decay step are not decayed.
    @Test func countsHalveEveryHalfLifeOfEventTime() {
        var rates = CategoryRates(halfLifeSeconds: 3_600)
        Self.feed(&rates, Self.hot, events: 800, purchaseEvery: 4, at: 0)
        Self.feed(&rates, Self.hot, events: 1, purchaseEvery: 0, at: 400)  // within the first 1/8 half-life
        #expect(rates.events == 801)
        Self.feed(&rates, Self.hot, events: 1, purchaseEvery: 0, at: 3_600)
        #expect(abs(rates.events - (801 / 2 + 1)) < 1e-3)
        #expect(abs(rates.purchases - 100) < 1e-3)
        // The lift follows the decayed counts: the ratio of the category to the stream is unchanged.
        Self.feed(&rates, Self.hot, events: 1, purchaseEvery: 0, at: 3_600 * 20)
        #expect(rates.events < 1.01)
    }

    /// Counts keep counting past 2^24, where a `Float` would stop: a long-running stream's decayed
    /// total settles far above it.
    @Test func countsKeepCountingPastFloatPrecision() {
        var rates = CategoryRates(halfLifeSeconds: 86_400)
        Self.feed(&rates, Self.hot, events: 1, purchaseEvery: 1, at: 0)
        let big = Double(1 << 30)
        rates.restore(step: rates.step, events: big, purchases: big / 100) { counts in
            counts[2 * Int(Self.hot)] = big / 2
        }
        Self.feed(&rates, Self.hot, events: 3, purchaseEvery: 0, at: 0)
        #expect(rates.events == big + 3)
        #expect(rates.counts[2 * Int(Self.hot)] == big / 2 + 3)
    }

    /// A score's vector carries the event's category lift, its cross with the funnel stage and the
    /// session's entry category lift, at the values the rates give.
    @Test func scoresCarryTheCategoryLiftFeatures() throws {
        var engine = try Engine(config: ModelFixture.config())
        var events: [Event] = []
        for i in 0..<400 {
            let t = 10 + Double(i)
            events.append(ModelFixture.event("u\(i % 40)", t, i % 5 == 0 ? .purchase : .view, item: "hot"))
            events.append(ModelFixture.event("v\(i % 40)", t + 0.5, .view, item: "cold"))
        }
        _ = ModelFixture.run(events, engine: &engine)
        let model = try #require(engine.model)
        let slot = try #require(engine.users.slot(of: StableHash.hash("u1")))
        let last = ModelFixture.event("u1", 500, .view, item: "hot")
        let v = model.features.extract(last, context: EventContext(userSlot: slot, isNewUser: false, isNewSession: false,
                                                                   sincePrevious: 1_000_000, itemViewedBefore: true,
                                                                   itemCartedBefore: false),
                                       user: engine.users[slot], rates: model.rates)
        func value(_ name: String) -> Float? {
            (0..<v.count).first { model.features.names[Int(v.names[$0])] == name }.map { v.values[$0] }
        }
        let hot = model.rates.lift(key: CategoryRates.key(ofCategory: StableHash.hash("c-hot")))
        let cold = model.rates.lift(key: CategoryRates.key(ofCategory: StableHash.hash("c-cold")))
        #expect(hot > 0.5 && cold < -0.5)
        #expect(value("category_purchase_lift") == hot)
        #expect(value("stage:viewed*category_purchase_lift") == hot)
        #expect(value("session_category_purchase_lift") == hot)
    }

    /// The lift's weight starts at 1, so before the first label an event's score follows its
    /// category's purchase rate: sigmoid(logit(prior) + lift).
    @Test(arguments: [ModelConfig.Optimizer.ftrl, .adagrad])
    func anUntrainedModelScoresByTheCategoryLift(optimizer: ModelConfig.Optimizer) throws {
        var config = ModelFixture.config()
        config.model.optimizer = optimizer
        let fresh = try #require(try Engine(config: config).model)
        #expect(abs(fresh.learner.weight(fresh.features.slot(of: .categoryLift)) - 1) < 1e-5)
        // Purchases resolve and teach nothing while no prediction is pending; they only count.
        var history: [Event] = []
        for i in 0..<40 { history.append(ModelFixture.event("buyer\(i)", 10 + Double(i), .purchase, item: "hot")) }
        func firstScore(item: String) throws -> (score: Double, lift: Double) {
            var engine = try Engine(config: config)
            let sink = ModelFixture.run(history + [ModelFixture.event("new", 100, .view, item: item)], engine: &engine)
            let model = try #require(engine.model)
            let lift = model.rates.lift(key: CategoryRates.key(ofCategory: StableHash.hash("c-" + item)))
            return (try #require(sink.scores.first).p, Double(lift))
        }
        let prior = config.model.priorRate
        func expected(_ lift: Double) -> Double { 1 / (1 + exp(-(log(prior / (1 - prior)) + lift))) }
        let hot = try firstScore(item: "hot")
        let unseen = try firstScore(item: "unseen")
        #expect(hot.lift > 0.5)
        #expect(abs(unseen.lift - log(50.0 / 51.0)) < 1e-5)  // its own event: 1 event, no purchase
        #expect(abs(hot.score - expected(hot.lift)) < 1e-6)
        #expect(abs(unseen.score - expected(unseen.lift)) < 1e-6)
        #expect(hot.score > 2 * unseen.score)
    }
}
