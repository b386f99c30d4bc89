import Testing

@testable import FunnelCore

/// `engine.model.exclude_features`: leaner vectors for throughput, a layout of their own.
@Suite struct FeatureExclusionTests {
    static let excluded = ["window_counts", "window_totals", "type*cart", "stage*hour", "log_age"]

    static func config(excluding names: [String]) -> EngineConfig {
        var c = ModelFixture.config()
        c.model.excludeFeatures = names
        return c
    }

    /// Which template a feature's name id belongs to.
    static func template(of name: UInt16, in features: FeatureExtractor) -> FeatureExtractor.Template? {
        FeatureExtractor.Template.allCases.last { features.slot(of: $0) <= Int(name) }
    }

    @Test func excludedTemplatesNeverReachAVectorAndTheRestAreUnchanged() throws {
        var full = try Engine(config: ModelFixture.config())
        var lean = try Engine(config: Self.config(excluding: Self.excluded))
        let events = ModelFixture.stream()
        _ = ModelFixture.run(events, engine: &full)
        _ = ModelFixture.run(events, engine: &lean)
        let fullModel = try #require(full.model)
        let leanModel = try #require(lean.model)
        let skipped = Set(Self.excluded.compactMap(FeatureExtractor.Template.named))
        #expect(skipped.count == Self.excluded.count)
        var e = ModelFixture.event("u1", 5000, .cart)
        e.deviceKey = StableHash.hash("ios")
        let context = EventContext(userSlot: 0, isNewUser: false, isNewSession: false, sincePrevious: 30_000_000,
                                   itemViewedBefore: true, itemCartedBefore: false)
        let a = fullModel.features.extract(e, context: context, user: full.users[0], rates: fullModel.rates)
        let b = leanModel.features.extract(e, context: context, user: lean.users[0], rates: leanModel.rates)
        var kept: [Int] = []
        for k in 0..<a.count {
            let template = try #require(Self.template(of: a.names[k], in: fullModel.features))
            if !skipped.contains(template) { kept.append(k) }
        }
        #expect(kept.count < a.count)
        #expect(b.count == kept.count)
        // Same names, same slots, same values, in the same order.
        #expect((0..<b.count).map { b.names[$0] } == kept.map { a.names[$0] })
        #expect((0..<b.count).map { b.indices[$0] } == kept.map { a.indices[$0] })
        #expect((0..<b.count).map { b.values[$0] } == kept.map { a.values[$0] })
    }

    @Test func aModelSavedWithOneFeatureSetIsRefusedByAnother() throws {
        var lean = try Engine(config: Self.config(excluding: Self.excluded))
        _ = ModelFixture.run(ModelFixture.stream(users: 10, seconds: 300), engine: &lean, finish: true)
        let bytes = try #require(lean.saveModel())
        var full = try Engine(config: ModelFixture.config())
        do {
            try full.loadModel(bytes)
            Issue.record("a model of another feature set was accepted")
        } catch {
            #expect(error.message.contains("another feature configuration"))
        }
        var sameSet = try Engine(config: Self.config(excluding: Self.excluded.reversed()))
        try sameSet.loadModel(bytes)
    }

    @Test func unknownTemplateNamesAreRefusedByName() {
        var config = ModelConfig()
        config.excludeFeatures = ["window_counts", "windows"]
        do {
            try config.validate()
            Issue.record("an unknown template name was accepted")
        } catch {
            #expect(error.key == "engine.model.exclude_features[1]")
            #expect(error.message.contains("\"windows\""))
            #expect(error.message.contains("window_counts"))
        }
        config.excludeFeatures = FeatureExtractor.Template.allCases.map(\.configName)
        #expect(throws: Never.self) { try config.validate() }
        #expect(Set(config.excludeFeatures).count == FeatureExtractor.Template.allCases.count)
    }
}
