import FunnelCore
import Testing

/// Partition handover: the users of one input partition move from engine A to engine B mid-stream
/// and continue exactly as they would have in one uninterrupted engine.
@Suite struct PartitionHandoverTests {
    /// One decoded event with its record and its partition (users split by key: input keyed by user).
    struct Input {
        var line: [UInt8]
        var outcome: DecodeOutcome
        var userKey: UInt64
        var partition: Int32
    }

    static func config() -> EngineConfig {
        var config = EngineConfig()
        config.alerts.cartAbandonment.idleSeconds = 600
        // Low-score signals depend on the model, which stays with each host.
        config.alerts.cartAbandonment.scoreThreshold = 0
        return config
    }

    static func inputs() throws -> [Input] {
        var config = SimulatorConfig(seed: 21, users: 6000, duration: 4 * 3_600_000)
        config.sessionsPerUserPerDay = 8
        var simulator = Simulator(config: config)
        var decoder = RecordDecoder(mapping: try CompiledMapping(.canonicalJSON))
        var out: [Input] = []
        var line: [UInt8] = []
        while simulator.next(into: &line) {
            defer { line.removeAll(keepingCapacity: true) }
            let outcome = line.withUnsafeBytes { decoder.decode($0) }
            guard case .event(let event) = outcome else { continue }
            out.append(Input(line: line, outcome: outcome, userKey: event.userKey, partition: Int32(event.userKey % 2)))
        }
        return out
    }

    static func feed(_ input: Input, into engine: inout Engine, source: Int32, offset: Int, sink: inout CollectingSink) {
        input.line.withUnsafeBytes {
            engine.ingest(input.outcome, record: $0, at: SourcePosition(source: source, offset: Int64(offset)), sink: &sink)
        }
    }

    /// Every field of a record that describes the user (not its list links or partition slot).
    static func same(_ a: UserRecord, _ b: UserRecord) -> Bool {
        var equal = a.key == b.key && a.lastSeen == b.lastSeen && a.firstSeen == b.firstSeen
            && a.sessionStart == b.sessionStart && a.sessionTag == b.sessionTag && a.cartValue == b.cartValue
            && a.cartItems == b.cartItems && a.sessionDepth == b.sessionDepth && a.sessions == b.sessions
            && a.purchases == b.purchases && a.viewedItems == b.viewedItems && a.cartedItems == b.cartedItems
        for i in 0..<96 where a.counts[i] != b.counts[i] { equal = false }
        for i in 0..<8 where a.recent[i] != b.recent[i] { equal = false }
        return equal
    }

    static func record(_ key: UInt64, in engine: borrowing Engine) -> UserRecord? {
        engine.users.slot(of: key).map { engine.users[$0] }
    }

    static func contexts(_ sink: CollectingSink) -> [UInt64: [String]] {
        var out: [UInt64: [String]] = [:]
        for a in sink.accepted {
            let c = a.context
            out[a.userKey, default: []].append(
                "\(a.time) \(c.isNewUser) \(c.isNewSession) \(c.sincePrevious) \(c.itemViewedBefore) \(c.itemCartedBefore)")
        }
        return out
    }

    static func cartSignals(_ sink: CollectingSink, before watermark: Int64) -> Set<String> {
        Set(sink.alerts.filter { $0.kind == .cartAbandonment && $0.time < watermark }.map {
            "\($0.id) \($0.time) \($0.value ?? "") \($0.evidence.map { "\($0.name)=\($0.value)" })"
        })
    }

    @Test func movedUsersContinueExactlyAsInOneEngine() throws {
        let inputs = try Self.inputs()
        #expect(inputs.count > 10_000)
        let config = Self.config()
        let cut = inputs.count / 2

        // Reference: one engine owns both partitions throughout (sources 0 and 1).
        var reference = try Engine(config: config)
        var referenceSink = CollectingSink()
        for (i, input) in inputs.enumerated() {
            Self.feed(input, into: &reference, source: input.partition, offset: i, sink: &referenceSink)
        }

        // A owns both until the cut, then hands partition 1 to B (where it is slot 0: slots are
        // per process). A's slot 1 goes idle, as the daemon marks a revoked partition.
        var a = try Engine(config: config)
        var b = try Engine(config: config)
        var sinkA = CollectingSink()
        var sinkB = CollectingSink()
        for (i, input) in inputs[..<cut].enumerated() {
            Self.feed(input, into: &a, source: input.partition, offset: i, sink: &sinkA)
        }
        let usersBefore = a.users.count
        let cartsBefore = a.alerts?.carts.openCarts ?? 0
        let pendingBefore = a.model?.pending.count ?? 0
        let bytes = try a.exportPartition(source: 1)
        a.setSourceIdle(1, true)
        try b.importPartition(bytes, source: 0)
        b.registerSource(0)
        let moved = a.handover.usersOut
        #expect(moved > 100 && moved < usersBefore)
        #expect(b.handover.usersIn == moved)
        #expect(a.users.count + b.users.count == usersBefore)
        #expect(a.handover.cartsOut > 0 && b.handover.cartsIn == a.handover.cartsOut)
        #expect((a.alerts?.carts.openCarts ?? 0) + (b.alerts?.carts.openCarts ?? 0) == cartsBefore)
        #expect(a.handover.pendingOut > 0 && b.model?.pending.count == a.handover.pendingOut)
        #expect(pendingBefore > 0)
        #expect(a.handover.attemptsOut > 0 && b.handover.attemptsIn == a.handover.attemptsOut)
        for i in cut..<inputs.count {
            let input = inputs[i]
            if input.partition == 0 {
                Self.feed(input, into: &a, source: 0, offset: i, sink: &sinkA)
            } else {
                Self.feed(input, into: &b, source: 0, offset: i, sink: &sinkB)
            }
        }
        reference.finish(sink: &referenceSink)
        a.finish(sink: &sinkA)
        b.finish(sink: &sinkB)

        // Nothing late, evicted, or dropped anywhere; the comparison is on the same inputs.
        for engine in [reference, a, b] {
            #expect(engine.stats.rejectedTotal == 0)
            #expect(engine.users.evictedIdle == 0 && engine.users.evictedCapacity == 0)
            #expect(engine.model?.stats.overflowDropped == 0)
        }
        #expect(a.users.count + b.users.count == reference.users.count)
        // Every user's record (windows, sessions, cart, item filters, recent items) is the
        // reference's, and so is the context of every one of their events (what the features
        // are computed from: new user/session, time since previous, item seen before).
        var compared = 0
        for slot in reference.users.slotsInActivityOrder() {
            let expected = reference.users[slot]
            let actual = Self.record(expected.key, in: a) ?? Self.record(expected.key, in: b)
            #expect(actual.map { Self.same($0, expected) } == true)
            compared += 1
        }
        #expect(compared == reference.users.count)
        var split = Self.contexts(sinkA)
        for (user, lines) in Self.contexts(sinkB) { split[user, default: []].append(contentsOf: lines) }
        #expect(split == Self.contexts(referenceSink))
        // Cart-abandonment signals decided on both sides of the move are the reference's.
        let horizon = min(reference.watermark, a.watermark, b.watermark)
        let referenceSignals = Self.cartSignals(referenceSink, before: horizon)
        #expect(referenceSignals.count > 5)
        #expect(Self.cartSignals(sinkA, before: horizon).union(Self.cartSignals(sinkB, before: horizon)) == referenceSignals)
        // Funnel entries and conversions (totals over all windows) add up to the reference's: an
        // attempt entered on A and completed on B is counted once each.
        guard let rf = reference.funnels.funnels.first, let af = a.funnels.funnels.first,
            let bf = b.funnels.funnels.first
        else { return }
        for step in 0..<rf.spec.steps.count {
            for kind in 0..<2 {
                let i = step * 3 + kind
                #expect(af.totals[i] + bf.totals[i] == rf.totals[i], "step \(step) kind \(kind)")
            }
        }
    }

    @Test func aPurchaseAfterTheMoveLabelsAPredictionMadeBeforeIt() throws {
        var config = ModelFixture.config(delay: .horizon)
        config.model.horizonSeconds = 600
        var a = try Engine(config: config)
        var b = try Engine(config: config)
        let user = StableHash.hash("u-moving")
        _ = ModelFixture.run([ModelFixture.event("u-moving", 100), ModelFixture.event("u-moving", 110, .cart)],
                             engine: &a)
        #expect(a.model?.pending.count == 2)
        let bytes = try a.exportPartition(source: 0)
        try b.importPartition(bytes, source: 0)
        #expect(a.users.slot(of: user) == nil && b.users.slot(of: user) != nil)
        #expect(b.handover.pendingIn == 2)

        _ = ModelFixture.run([ModelFixture.event("u-moving", 200, .purchase)], engine: &b, finish: true)
        #expect(b.model?.stats.resolvedPositive == 2)
        #expect(b.model?.stats.learned == 2)
        #expect(b.model?.quality.all.count == 2)
        // The old owner retires its detached copies without a label, a lesson or a drop.
        var sink = ScoreCollector()
        a.finish(sink: &sink)
        #expect(a.model?.pending.count == 0)
        #expect(a.model?.stats.resolvedNegative == 0 && a.model?.stats.resolvedPositive == 0)
        #expect(a.model?.stats.learned == 0 && a.model?.stats.overflowDropped == 0)
        #expect(a.users.evictedIdle == 0 && a.users.evictedCapacity == 0)
        #expect(a.handover.usersOut == 1 && a.handover.pendingOut == 2)
    }

    @Test func detachedLabelsStayDetachedWhenTheRingGrowsAndTheUserReturns() throws {
        var config = ModelFixture.config(maxUsers: 10_000, delay: .horizon)
        config.model.horizonSeconds = 86_400
        var a = try Engine(config: config)
        _ = ModelFixture.run([ModelFixture.event("u-back", 100), ModelFixture.event("u-back", 110)], engine: &a)
        _ = try a.exportPartition(source: 0)
        // Enough other predictions for the pending ring to grow (it starts at 4096 entries).
        let others = (0..<5_000).map { ModelFixture.event("other-\($0)", 200 + Double($0) / 100) }
        _ = ModelFixture.run(others, engine: &a)
        // The user comes back here (through another partition): only the new prediction is theirs.
        _ = ModelFixture.run([ModelFixture.event("u-back", 300), ModelFixture.event("u-back", 310, .purchase)],
                             engine: &a)
        #expect(a.model?.stats.resolvedPositive == 1)
    }

    @Test func theNewerRecordWinsWhenTheUserIsAlreadyHere() throws {
        let config = ModelFixture.config()
        var a = try Engine(config: config)
        var b = try Engine(config: config)
        _ = ModelFixture.run([ModelFixture.event("u1", 100), ModelFixture.event("u2", 100)], engine: &a)
        _ = ModelFixture.run([ModelFixture.event("u1", 300)], engine: &b)
        try b.importPartition(try a.exportPartition(source: 0), source: 0)
        #expect(b.handover.usersIn == 1 && b.handover.usersKeptLocal == 1)
        let u1 = try #require(b.users.slot(of: StableHash.hash("u1")))
        #expect(b.users[u1].lastSeen == 300_000_000)
        #expect(b.users.count == 2)
    }

    @Test func corruptOrForeignStatesAreRefusedAndChangeNothing() throws {
        let config = Self.config()
        var a = try Engine(config: config)
        var sink = CollectingSink()
        for (i, input) in try Self.inputs().prefix(3_000).enumerated() {
            Self.feed(input, into: &a, source: input.partition, offset: i, sink: &sink)
        }
        let bytes = try a.exportPartition(source: 1)
        func refusal(_ bytes: [UInt8], config: EngineConfig = Self.config()) throws -> String? {
            var b = try Engine(config: config)
            do {
                try b.importPartition(bytes, source: 0)
                return nil
            } catch {
                #expect(b.users.count == 0 && b.handover.imports == 0)
                return error.message
            }
        }
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x20
        #expect(try refusal(flipped)?.contains("checksum") == true)
        #expect(try refusal(Array(bytes.dropLast(3)))?.contains("payload bytes") == true)
        #expect(try refusal(try a.checkpoint())?.contains("bad magic") == true)
        var other = Self.config()
        other.windowSeconds = [60, 600]
        #expect(try refusal(bytes, config: other)?.contains("another engine configuration") == true)
        var versioned = bytes
        versioned[8] = 7
        #expect(try refusal(versioned)?.contains("format 7") == true)
        #expect(try refusal(bytes) == nil)
    }

    /// The partition slot keeps the record within its 256-byte budget, and a partition of 5,000
    /// users moves whole (timings: `funnelpulse-bench handover`).
    @Test func recordStaysWithinItsBudgetAndAWholePartitionMoves() throws {
        #expect(MemoryLayout<UserRecord>.stride <= 256)
        let config = Self.config()
        var a = try Engine(config: config)
        var b = try Engine(config: config)
        var sink = CollectingSink()
        for i in 0..<10_000 {
            let type: EventType = i % 7 == 0 ? .cart : .view
            let seconds = Double(1_700_000_000 + i / 50)
            a.ingest(.event(ModelFixture.event("user-\(i % 5_000)", seconds, type, item: "i\(i % 97)")),
                     record: UnsafeRawBufferPointer(start: nil, count: 0), at: SourcePosition(source: 0, offset: 0),
                     sink: &sink)
        }
        let bytes = try a.exportPartition(source: 0)
        try b.importPartition(bytes, source: 0)
        #expect(a.users.count == 0)
        #expect(b.users.count == 5_000)
    }
}
