import FunnelCore
import Testing

@testable import FunnelDaemon

/// Evictions at the state caps in `/metrics`.
@Suite struct EvictionMetricsTests {
    @Test func usersAttemptsAndCartsEvictedAtTheirCapsAreCounted() throws {
        var config = EngineConfig()
        config.maxUsers = 20
        config.model.enabled = false
        var engine = try Engine(config: config)
        var decoder = RecordDecoder(mapping: try CompiledMapping(.canonicalJSON))
        var sink = NullSink()
        // 100 users each view then cart at the same moment: 80 users evicted at capacity, 80
        // funnel attempts and 80 carts closed early (the window stays open, nothing expires).
        for n in 0..<100 {
            for (i, type) in ["view", "cart"].enumerated() {
                let line = #"{"event_id":"e\#(n)-\#(i)","user_id":"u\#(n)","type":"\#(type)","ts":1700000000000,"item_id":"i","price":5}"#
                Array(line.utf8).withUnsafeBytes {
                    engine.process($0, decoder: &decoder, at: SourcePosition(source: 0, offset: Int64(2 * n + i)),
                                   sink: &sink)
                }
            }
        }
        engine.finish(sink: &sink)
        let setup = MetricsSetup()
        let metrics = PipelineMetrics(factory: setup.factory)
        metrics.recordState(engine)
        metrics.recordState(engine)  // deltas only: a second call adds nothing
        let text = setup.registry.emitToString()
        #expect(text.contains(#"funnelpulse_users_evicted_total{cause="capacity"} 80"#))
        #expect(text.contains(#"funnelpulse_state_evicted_total{table="funnel_attempts"} 80"#))
        #expect(text.contains(#"funnelpulse_state_evicted_total{table="open_carts"} 80"#))
    }
}

private struct NullSink: EngineSink {
    mutating func deadLetter(_ failure: DecodeFailure, record: UnsafeRawBufferPointer, position: SourcePosition) {}
    mutating func snapshot(_ snapshot: FunnelSnapshot) {}
}
