import Testing
@testable import FunnelCore

@Suite("Funnels in event time")
struct FunnelTests {
    static func config(lateness: Double = 0, window: Int = 1800) -> EngineConfig {
        var c = EngineConfig()
        c.allowedLatenessSeconds = lateness
        c.funnels[0].conversionWindowSeconds = window
        return c
    }

    static func totals(_ engine: Engine) -> [FunnelStepStats] { engine.funnels.funnels[0].totalStats }

    @Test func fullConversionCountsEveryStep() throws {
        let lines = ["view", "cart", "checkout", "purchase"].enumerated().map {
            jsonEvent("a", $1, base + Double($0) * 10)
        }
        let (engine, _) = try run(lines, config: Self.config())
        let t = Self.totals(engine)
        #expect(t.map(\.entered) == [1, 1, 1, 1, 1])
        #expect(t.map(\.converted) == [1, 1, 1, 1, 0])
        #expect(t.map(\.dropped) == [0, 0, 0, 0, 0])
        #expect(t.map(\.inFlight) == [0, 0, 0, 0, 0])
        #expect(FunnelSnapshot.overallRate(t) == 1)
    }

    @Test func inFlightIsNeverCountedAsDropped() throws {
        // a views at 0; another user's traffic moves the watermark to 1000 s: a is still inside its window.
        var lines = [jsonEvent("a", "view", base)]
        lines += (1...10).map { jsonEvent("b\($0)", "page", base + Double($0) * 100) }
        let (engine, _) = try run(lines, config: Self.config(), finish: false)
        let t = Self.totals(engine)
        #expect(t[1].entered == 1)
        #expect(t[1].inFlight == 1)
        #expect(t[1].dropped == 0)
        #expect(t[1].conversionRate == nil)  // nothing resolved yet at product_view
    }

    @Test func conversionWindowExpiryDrops() throws {
        var lines = [jsonEvent("a", "view", base)]
        lines.append(jsonEvent("z", "page", base + 1801))  // watermark passes 0 + 1800
        lines.append(jsonEvent("z", "page", base + 1802))
        let (engine, _) = try run(lines, config: Self.config(), finish: false)
        let t = Self.totals(engine)
        #expect(t[1].dropped == 1)
        #expect(t[1].inFlight == 0)
        #expect(t[1].conversionRate == 0)
    }

    @Test func conversionAtExactlyTheWindowEndCounts() throws {
        let exact = try run([jsonEvent("a", "view", base), jsonEvent("a", "cart", base + 1800),
                             jsonEvent("z", "page", base + 4000)], config: Self.config(), finish: false).0
        #expect(Self.totals(exact)[1].converted == 1)
        #expect(Self.totals(exact)[1].dropped == 0)
        let tooLate = try run([jsonEvent("a", "view", base), jsonEvent("a", "cart", base + 1800.001),
                               jsonEvent("z", "page", base + 4000)], config: Self.config(), finish: false).0
        let t = Self.totals(tooLate)
        #expect(t[1].converted == 0)
        #expect(t[1].dropped == 1)
        // The late cart starts a new attempt at "visit" (it is not a product view), which itself expires
        // at 3600.001 s; z's event at 4000 s still waits in the reorder buffer for the watermark to pass it.
        #expect(t[0].entered == 2)
        #expect(t[0].dropped == 1)
        #expect(t[0].inFlight == 0)
    }

    @Test func stepsMustBeInOrder() throws {
        // A cart before any product view does not reach add_to_cart.
        let (engine, _) = try run([jsonEvent("a", "cart", base), jsonEvent("a", "view", base + 5)],
                                  config: Self.config())
        let t = Self.totals(engine)
        #expect(t.map(\.entered) == [1, 1, 0, 0, 0])
        #expect(t[1].inFlight == 1)
    }

    @Test func outOfOrderWithinLatenessEqualsSortedInput() throws {
        var rng = SimRandom(seed: 3)
        var events: [(Double, String)] = []
        let types = ["view", "view", "cart", "checkout", "purchase", "page"]
        for i in 0..<400 {
            let t = base + Double(i) * 3 + Double(rng.next() % 1000) / 1000
            events.append((t, jsonEvent("u\(rng.next() % 25)", types[Int(rng.next() % 6)], t, id: "e\(i)")))
        }
        let sorted = events.sorted { $0.0 < $1.0 }.map(\.1)
        // Shuffle locally: each event moves by at most ~8 s, within 10 s of lateness.
        var shuffled = events
        for i in stride(from: 0, to: shuffled.count - 3, by: 3) { shuffled.swapAt(i, i + 2) }
        let a = try run(sorted, config: Self.config(lateness: 10, window: 120))
        let b = try run(shuffled.map(\.1), config: Self.config(lateness: 10, window: 120))
        #expect(b.1.deadLetters.isEmpty)
        #expect(Self.totals(a.0) == Self.totals(b.0))
        #expect(a.1.snapshots.map(\.steps) == b.1.snapshots.map(\.steps))
        #expect(a.1.snapshots.count == b.1.snapshots.count)
    }

    @Test func lateEventsAreRejectedNotCounted() throws {
        let (engine, sink) = try run([jsonEvent("a", "view", base + 100), jsonEvent("b", "view", base + 50)],
                                     config: Self.config(lateness: 10))
        #expect(sink.deadLetters.map(\.reason) == [.late])
        #expect(Self.totals(engine)[0].entered == 1)
    }

    @Test func snapshotsCloseOnTheWatermarkPerMinute() throws {
        let lines = (0..<10).map { jsonEvent("u\($0)", "view", base + Double($0) * 30) }  // 0…270 s
        let (_, sink) = try run(lines, config: Self.config())
        // base is 20 s into a minute: windows end at +40, +100, +160, +220, +280 (partial at the end).
        #expect(sink.snapshots.count == 5)
        #expect(sink.snapshots.dropLast().allSatisfy { !$0.partial })
        #expect(sink.snapshots.last?.partial == true)
        for s in sink.snapshots {
            #expect(s.windowEnd % 60_000_000 == 0)
            #expect(s.windowEnd - s.windowStart == 60_000_000)
        }
        #expect(sink.snapshots.reduce(0) { $0 + $1.steps[0].entered } == 10)
        // Rolling 15 min sums every closed window so far.
        #expect(sink.snapshots.last?.rolling.first?.steps[0].entered == 10)
    }

    @Test func breakdownByDeviceWithCardinalityCap() throws {
        var config = Self.config()
        config.funnels[0].breakdownCardinality = 2
        config.funnels[0].breakdowns = ["device"]
        let lines = [
            jsonEvent("a", "view", base, device: "mobile"), jsonEvent("b", "view", base + 1, device: "desktop"),
            jsonEvent("c", "view", base + 2, device: "tablet"), jsonEvent("d", "view", base + 3),
            jsonEvent("a", "cart", base + 4, device: "desktop"),  // attribution stays with the attempt's first device
        ]
        let (_, sink) = try run(lines, config: config)
        let values = try #require(sink.snapshots.last?.breakdowns.first?.values)
        let byName = Dictionary(uniqueKeysWithValues: values.map { ($0.name, $0.steps) })
        #expect(Set(byName.keys) == ["mobile", "desktop", "other", "(none)"])
        #expect(byName["mobile"]?[2].entered == 1)
        #expect(byName["desktop"]?[2].entered == 0)
        #expect(byName["other"]?[1].entered == 1)
        let sum = values.reduce(Int64(0)) { $0 + $1.steps[0].entered }
        #expect(sum == sink.snapshots.last?.steps[0].entered)
    }

    @Test func timeToConvertPercentiles() throws {
        var lines: [String] = []
        for i in 0..<100 {
            lines.append(jsonEvent("u\(i)", "view", base + Double(i) * 0.1))
            lines.append(jsonEvent("u\(i)", "cart", base + Double(i) * 0.1 + Double(i % 10 + 1)))
        }
        let (_, sink) = try run(lines, config: Self.config(lateness: 20))
        let ttc = try #require(sink.snapshots.last?.rolling.first?.timeToConvert[1])
        #expect(ttc.count == 100)
        // True median 5.5 s; log buckets (4 per doubling) report the bucket's upper edge.
        #expect(ttc.p50 >= 5 && ttc.p50 <= 7.5)
        #expect(ttc.p99 >= 10 && ttc.p99 <= 13.5)
    }

    @Test func finishKeepsOpenAttemptsInFlight() throws {
        let (engine, sink) = try run([jsonEvent("a", "view", base), jsonEvent("b", "view", base + 1)],
                                     config: Self.config())
        #expect(Self.totals(engine)[1].inFlight == 2)
        #expect(Self.totals(engine)[1].dropped == 0)
        #expect(sink.snapshots.last?.partial == true)
    }
}

@Suite("Per-source watermarks")
struct SourceWatermarkTests {
    /// Feeds (source, line) pairs through one engine.
    static func run(_ lines: [(Int32, String)], lateness: Double = 5,
                    idleAfter: [Int: Int32] = [:]) throws -> (Engine, CollectingSink) {
        var config = EngineConfig()
        config.allowedLatenessSeconds = lateness
        var engine = try Engine(config: config)
        var decoder = RecordDecoder(mapping: try CompiledMapping(.canonicalJSON))
        var sink = CollectingSink()
        for source in Set(lines.map(\.0)) { engine.registerSource(source) }
        for (i, (source, line)) in lines.enumerated() {
            Array(line.utf8).withUnsafeBytes {
                engine.process($0, decoder: &decoder, at: SourcePosition(source: source, offset: Int64(i)), sink: &sink)
            }
            if let idle = idleAfter[i] { engine.setSourceIdle(idle, true) }
        }
        return (engine, sink)
    }

    @Test func aBacklogOfInterleavedPartitionsIsNotLate() throws {
        // Two partitions an hour apart in event time, read in alternating batches (a consumer
        // catching up): with one global watermark every event of partition 1 would be late.
        var lines: [(Int32, String)] = []
        for batch in 0..<5 {
            for k in 0..<10 { lines.append((0, jsonEvent("a\(k)", "view", base + 3600 + Double(batch * 10 + k)))) }
            for k in 0..<10 { lines.append((1, jsonEvent("b\(k)", "view", base + Double(batch * 10 + k)))) }
        }
        let (engine, sink) = try Self.run(lines)
        #expect(sink.deadLetters.isEmpty)
        #expect(engine.stats.accepted == 100)
        // The watermark follows the slower partition.
        #expect(engine.watermark == Int64((base + 49 - 5) * 1_000_000))
    }

    @Test func lateIsJudgedAgainstTheEventsOwnPartition() throws {
        let lines: [(Int32, String)] = [
            (0, jsonEvent("a", "view", base + 100)), (1, jsonEvent("b", "view", base + 10)),
            (0, jsonEvent("a", "view", base + 90)),  // own partition at 100, lateness 5: late
            (1, jsonEvent("b", "view", base + 8)),  // own partition at 10: fine
        ]
        let (_, sink) = try Self.run(lines)
        #expect(sink.deadLetters.map(\.position.offset) == [2])
    }

    @Test func anIdlePartitionStopsHoldingTheWatermarkBack() throws {
        var lines: [(Int32, String)] = [(1, jsonEvent("b", "view", base))]
        lines += (1...5).map { (Int32(0), jsonEvent("a", "view", base + Double($0) * 100)) }
        let (held, _) = try Self.run(lines)
        #expect(held.watermark == Int64((base - 5) * 1_000_000))
        let (released, _) = try Self.run(lines, idleAfter: [0: 1])
        #expect(released.watermark == Int64((base + 500 - 5) * 1_000_000))
        // Once the watermark has moved on, an old event of the idle partition is late.
        let (_, sink) = try Self.run(lines + [(1, jsonEvent("b", "view", base + 1))], idleAfter: [0: 1])
        #expect(sink.deadLetters.count == 1)
    }
}
