import FunnelCore

/// Collects scores; ignores everything else.
struct ScoreCollector: EngineSink {
    var scores: [(user: UInt64, time: Int64, p: Double, version: UInt64)] = []
    mutating func deadLetter(_ failure: DecodeFailure, record: UnsafeRawBufferPointer, position: SourcePosition) {}
    mutating func snapshot(_ snapshot: FunnelSnapshot) {}
    mutating func score(_ score: ModelScore, event: Event, record: UnsafeRawBufferPointer, position: SourcePosition) {
        scores.append((event.userKey, event.timestamp, score.probability, score.version))
    }
}

enum ModelFixture {
    static func config(lateness: Double = 0, maxUsers: Int = 1000, delay: ModelConfig.DelayPolicy = .fakeNegativeWeighted,
                       windows: [Int] = [60, 300, 1800, 86_400]) -> EngineConfig {
        var c = EngineConfig()
        c.allowedLatenessSeconds = lateness
        c.maxUsers = maxUsers
        c.windowSeconds = windows
        c.model.delay = delay
        c.model.hashBits = 12
        return c
    }

    static func event(_ user: String, _ seconds: Double, _ type: EventType = .view, item: String = "i1") -> Event {
        var e = Event()
        e.timestamp = Int64(seconds * 1_000_000)
        e.type = type
        e.userKey = StableHash.hash(user)
        e.itemKey = StableHash.hash(item)
        e.categoryKey = StableHash.hash("c-" + item)
        return e
    }

    static func run(_ events: [Event], engine: inout Engine, finish: Bool = false) -> ScoreCollector {
        var sink = ScoreCollector()
        for e in events {
            engine.ingest(.event(e), record: UnsafeRawBufferPointer(start: nil, count: 0),
                          at: SourcePosition(source: 0, offset: 0), sink: &sink)
        }
        if finish { engine.finish(sink: &sink) }
        return sink
    }

    /// A deterministic synthetic stream: users browse, some cart, some buy within minutes.
    static func stream(users: Int = 60, seconds: Int = 4000) -> [Event] {
        var out: [Event] = []
        var state: UInt64 = 42
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        var t = 0.0
        while t < Double(seconds) {
            t += Double(next() % 20) / 2
            let u = Int(next() % UInt64(users))
            let r = next() % 100
            let type: EventType = r < 70 ? .view : r < 85 ? .cart : r < 92 ? .fav : (u % 3 == 0 ? .purchase : .view)
            out.append(event("u\(u)", t, type, item: "i\(next() % 30)"))
        }
        return out
    }
}
