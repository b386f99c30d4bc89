import Testing
@testable import FunnelCore

/// Optimiser updates against hand-worked numbers, no leakage, determinism, save/load.
struct ModelLearningTests {
    /// One feature x = 1, prior 0.5 (offset 0), α = 0.5, β = 1, no regularisation.
    func tiny(_ optimizer: ModelConfig.Optimizer, l1: Double = 0) -> (OnlineLogistic, FeatureVector) {
        var c = ModelConfig()
        c.optimizer = optimizer
        c.hashBits = 10
        c.alpha = 0.5
        c.beta = 1
        c.l1 = l1
        c.l2 = 0
        c.priorRate = 0.5
        var v = FeatureVector()
        v.append(index: 7, value: 1, name: 0)
        return (OnlineLogistic(config: c), v)
    }

    @Test func ftrlMatchesHandComputation() {
        var (m, v) = tiny(.ftrl)
        // Step 1: w = 0, p = 0.5, g = −0.5; σ = (√0.25 − 0)/0.5 = 1; z = −0.5; n = 0.25;
        // w = 0.5 / ((1 + 0.5)/0.5) = 1/6.
        m.learn(v, label: true)
        #expect(abs(m.weight(7) - 1.0 / 6.0) < 1e-6)
        // Step 2: p = σ(1/6) = 0.541571, g = −0.458429, n = 0.460157,
        // σ = (0.678349 − 0.5)/0.5 = 0.356698, z = −0.5 − 0.458429 − 0.356698/6 = −1.017879,
        // w = 1.017879 / ((1 + 0.678349)/0.5) = 0.303238.
        m.learn(v, label: true)
        #expect(abs(m.weight(7) - 0.303238) < 1e-5)
        #expect(abs(m.predict(v) - 0.575236) < 1e-5)
    }

    @Test func ftrlL1ShrinksAndZeroes() {
        var (m, v) = tiny(.ftrl, l1: 0.1)
        m.learn(v, label: true)
        // z = −0.5 as above; w = −(z + 0.1)/3 = 0.4/3.
        #expect(abs(m.weight(7) - 0.4 / 3) < 1e-6)
        var (m2, v2) = tiny(.ftrl, l1: 1)
        m2.learn(v2, label: true)
        #expect(m2.weight(7) == 0)  // |z| = 0.5 ≤ λ1
    }

    @Test func adagradMatchesHandComputation() {
        var (m, v) = tiny(.adagrad)
        // g = −0.5, Σg² = 0.25, rate = 0.5/(1 + 0.5) = 1/3, w = 0 + 0.5/3 = 1/6.
        m.learn(v, label: true)
        #expect(abs(m.weight(7) - 1.0 / 6.0) < 1e-6)
    }

    /// Under the horizon policy a resolved label must not move any score before its horizon has
    /// closed; a purchase only changes other users' scores once t + H < watermark.
    ///
    /// Both streams hold the same purchase event (time, item, category), so every statistic of past
    /// events (the category rates) is the same in both: only who bought differs, and with it the label.
    @Test func noLeakageBeforeHorizon() throws {
        let views = (0..<300).map { ModelFixture.event("u\($0 % 40)", Double($0) * 10, .view, item: "i\($0 % 7)") }
        var base = views
        base.insert(ModelFixture.event("stranger", 15, .purchase), at: 2)  // resolves nothing
        var withBuy = views
        withBuy.insert(ModelFixture.event("u1", 15, .purchase), at: 2)  // resolves u1's prediction at 10
        var a = try Engine(config: ModelFixture.config(delay: .horizon))
        var b = try Engine(config: ModelFixture.config(delay: .horizon))
        let sa = ModelFixture.run(base, engine: &a).scores
        let sb = ModelFixture.run(withBuy, engine: &b).scores
        let u1 = StableHash.hash("u1")
        let before = zip(sa.filter { $0.user != u1 }, sb.filter { $0.user != u1 })
        var compared = 0
        for (x, y) in before where x.time <= 10_000_000 + 1_800_000_000 {
            #expect(x.p == y.p)
            compared += 1
        }
        #expect(compared > 100)
        // After the horizon the positive has been learned and scores differ.
        #expect(zip(sa, sb).contains { $0.p != $1.p })
    }

    /// Under fake negatives every prediction is learned as 0 at once, whatever its label; a label
    /// can still only change scores after its purchase arrives.
    @Test func noLeakageBeforePurchaseArrives() throws {
        let base = (0..<300).map { ModelFixture.event("u\($0 % 40)", Double($0) * 10, .view, item: "i\($0 % 7)") }
        var withBuy = base
        withBuy.append(ModelFixture.event("u1", 2999, .purchase))
        var a = try Engine(config: ModelFixture.config())
        var b = try Engine(config: ModelFixture.config())
        let sa = ModelFixture.run(base, engine: &a).scores
        let sb = ModelFixture.run(withBuy, engine: &b).scores
        #expect(sa.map(\.p) == sb.map(\.p))
    }

    @Test func deterministic() throws {
        let events = ModelFixture.stream()
        var a = try Engine(config: ModelFixture.config())
        var b = try Engine(config: ModelFixture.config())
        let sa = ModelFixture.run(events, engine: &a, finish: true)
        let sb = ModelFixture.run(events, engine: &b, finish: true)
        #expect(sa.scores.map(\.p) == sb.scores.map(\.p))
        #expect(a.saveModel() == b.saveModel())
    }

    @Test func saveLoadRoundTripGivesIdenticalScores() throws {
        let events = ModelFixture.stream()
        let (train, rest) = (Array(events.prefix(300)), Array(events.dropFirst(300)))
        var a = try Engine(config: ModelFixture.config())
        _ = ModelFixture.run(train, engine: &a, finish: true)
        let bytes = try #require(a.saveModel())
        var b = try Engine(config: ModelFixture.config())
        try b.loadModel(bytes)
        #expect(b.model?.learner.state == a.model?.learner.state)
        #expect(b.model?.version == a.model?.version)
        #expect(b.model?.rates == a.model?.rates)
        #expect(b.model?.rates.lift(key: CategoryRates.key(ofCategory: StableHash.hash("c-i1"))) != 0)
        // Fresh engines (empty user state) loaded with the same model score the same stream alike.
        var c = try Engine(config: ModelFixture.config())
        try c.loadModel(bytes)
        let sb = ModelFixture.run(rest, engine: &b)
        let sc = ModelFixture.run(rest, engine: &c)
        #expect(sb.scores.map(\.p) == sc.scores.map(\.p))
        #expect(sb.scores.first?.p != 0.01)
    }

    @Test func loadRefusesOtherFeatureConfigurationAndCorruption() throws {
        var a = try Engine(config: ModelFixture.config())
        _ = ModelFixture.run(ModelFixture.stream(users: 10, seconds: 300), engine: &a, finish: true)
        let bytes = try #require(a.saveModel())
        var other = try Engine(config: ModelFixture.config(windows: [60, 600]))
        #expect(throws: ModelError.self) { try other.loadModel(bytes) }
        do {
            try other.loadModel(bytes)
        } catch {
            #expect(error.message.contains("another feature configuration"))
        }
        var corrupt = bytes
        corrupt[100] ^= 0xFF
        var same = try Engine(config: ModelFixture.config())
        do {
            try same.loadModel(corrupt)
            Issue.record("a corrupt model was accepted")
        } catch {
            #expect(error.message.contains("checksum"))
        }
        #expect(throws: ModelError.self) { try same.loadModel(Array(bytes.prefix(40))) }
    }
}
