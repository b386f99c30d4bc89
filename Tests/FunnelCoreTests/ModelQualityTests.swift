import Testing
import Foundation
@testable import FunnelCore

/// Progressive metrics against values known by construction.
struct ModelQualityTests {
    func accumulate(_ pairs: [(Double, Bool)], threshold: Double = 0.5) -> QualityAccumulator {
        var q = QualityAccumulator()
        for (p, y) in pairs { q.add(score: p, label: y, threshold: threshold) }
        return q
    }

    @Test func aucOfKnownRankings() throws {
        #expect(accumulate([(0.1, false), (0.2, false), (0.3, true), (0.4, true)]).auc == 1)
        #expect(accumulate([(0.1, true), (0.2, true), (0.3, false), (0.4, false)]).auc == 0)
        // Positives 0.1 and 0.3 against negatives 0.2 and 0.4: one of four pairs ordered.
        #expect(accumulate([(0.1, true), (0.2, false), (0.3, true), (0.4, false)]).auc == 0.25)
        // All tied: ½.
        #expect(accumulate([(0.3, true), (0.3, false), (0.3, false)]).auc == 0.5)
        #expect(accumulate([(0.3, false)]).auc == nil)
    }

    @Test func logLossCalibrationAndF1() throws {
        let q = accumulate([(0.8, true), (0.6, false), (0.2, true), (0.1, false)])
        let expected = -(log(0.8) + log(0.4) + log(0.2) + log(0.9)) / 4
        #expect(abs(try #require(q.logLoss) - expected) < 1e-12)
        #expect(abs(try #require(q.meanScore) - 0.425) < 1e-12)
        #expect(q.positiveRate == 0.5)
        #expect(q.precision == 0.5)  // flagged 0.8 (tp) and 0.6 (fp)
        #expect(q.recall == 0.5)
        #expect(q.f1 == 0.5)
    }

    @Test func recentWindowForgetsOldest() throws {
        var q = ProgressiveQuality(threshold: 0.5, window: 100, stepNames: ["visit", "view"])
        for _ in 0..<100 { q.record(score: 0.9, label: false, step: 1) }
        for i in 0..<100 { q.record(score: i % 2 == 0 ? 0.8 : 0.2, label: i % 2 == 0, step: 0) }
        #expect(q.recent.count == 100)
        #expect(q.recent.auc == 1)
        #expect(q.all.count == 200)
        #expect(q.byStep[1].count == 100)
        #expect(try #require(q.all.auc) < 1)
    }

    /// A checkpoint keeps the recent window's ring; a restored window takes out exactly what the
    /// original put in, so the two agree on everything recorded afterwards.
    @Test func restoredWindowForgetsAsTheOriginalWould() throws {
        var q = ProgressiveQuality(threshold: 0.3, window: 50, stepNames: ["visit", "view"])
        for i in 0..<80 { q.record(score: 0.001 + Double(i % 17) / 20, label: i % 3 == 0, step: i % 2) }
        var restored = try BinaryCoder.decode(ProgressiveQuality.self, from: try BinaryCoder.encode(q))
        #expect(restored == q)
        for i in 0..<70 {
            let (score, label) = (0.9 - Double(i % 13) / 15, i % 4 == 0)
            q.record(score: score, label: label, step: 0)
            restored.record(score: score, label: label, step: 0)
        }
        #expect(restored == q)
        #expect(restored.recent.count == 50)
        #expect(restored.recent.logLoss == q.recent.logLoss)
        #expect(restored.recent.auc == q.recent.auc)
    }

    /// A checkpoint whose window position lies outside its ring is refused, not indexed.
    @Test func corruptWindowIsRefused() throws {
        var q = ProgressiveQuality(threshold: 0.5, window: 4, stepNames: ["visit"])
        q.record(score: 0.2, label: false, step: 0)
        var bytes = try BinaryCoder.encode(q)
        // ringNext and ringCount are the last two fields, 8 bytes each.
        let ringNextAt = bytes.count - 16
        bytes.replaceSubrange(ringNextAt..<(ringNextAt + 8), with: [9, 0, 0, 0, 0, 0, 0, 0])
        #expect(throws: (any Error).self) { try BinaryCoder.decode(ProgressiveQuality.self, from: bytes) }
    }

    @Test func scoresCarryStepAndExplanations() throws {
        var engine = try Engine(config: ModelFixture.config())
        var sink = ScoreCollector()
        for e in ModelFixture.stream() {
            engine.ingest(.event(e), record: UnsafeRawBufferPointer(start: nil, count: 0),
                          at: SourcePosition(source: 0, offset: 0), sink: &sink)
        }
        let model = try #require(engine.model)
        var e = ModelFixture.event("u1", 5000, .cart)
        e.deviceKey = StableHash.hash("ios")
        let v = model.features.extract(e, context: EventContext(userSlot: 0, isNewUser: false, isNewSession: false,
                                                                sincePrevious: 30_000_000, itemViewedBefore: true,
                                                                itemCartedBefore: false),
                                       user: engine.users[0], rates: model.rates)
        #expect(v.count > 15 && v.count < FeatureVector.capacity)
        let p = model.learner.explain(v)
        #expect(p.topCount == 3)
        #expect(abs(p.topContributions[0]) >= abs(p.topContributions[1]))
        #expect(model.features.names.count > 200)
        #expect(sink.scores.count == model.stats.predictions)
    }

    /// A window count c enters the model as log(1 + c), below the lookup table's 256 entries and
    /// beyond them.
    @Test(arguments: [1, 3, 255, 256, 300])
    func windowCountsEnterAsLogOfOnePlusCount(views: Int) throws {
        var engine = try Engine(config: ModelFixture.config())
        let events = (0..<views).map { ModelFixture.event("u1", 100 + Double($0) / 10) }
        _ = ModelFixture.run(events, engine: &engine)
        let model = try #require(engine.model)
        let last = try #require(events.last)
        let v = model.features.extract(last, context: EventContext(userSlot: 0, isNewUser: false, isNewSession: false,
                                                                   sincePrevious: 100_000, itemViewedBefore: true,
                                                                   itemCartedBefore: false),
                                       user: engine.users[0], rates: model.rates)
        let counts = (0..<v.count).filter { model.features.names[Int(v.names[$0])] == "log_count_view_60s" }
        #expect(counts.count == 1)
        #expect(counts.map { v.values[$0] } == [Float(log1p(Double(views)))])
    }
}
