import Foundation  // tests only: String.range(of:) to edit one line
import Testing

@testable import FunnelCore

/// `Engine.process(_ batch:)` decodes a batch ahead and prefetches; its outputs and state must be
/// exactly those of feeding the same records one by one.
@Suite struct EngineBatchTests {
    typealias RecordingSink = CheckpointTests.RecordingSink

    /// What the engine keeps, observed: every tracked user in activity order with its last event
    /// time and counters, and the open funnel attempts. (Checkpoint bytes are not compared: a
    /// checkpoint's hash-table sections are encoded in per-instance iteration order.)
    static func state(of engine: Engine) -> [String] {
        var out = engine.users.slotsInActivityOrder().map { slot -> String in
            let user = engine.users[slot]
            let counts = (0..<96).map { String(user.counts[$0]) }.joined(separator: ",")
            return "\(user.key) \(user.lastSeen) \(user.firstSeen) \(user.sessions) \(user.sessionDepth) \(user.cartItems) \(user.purchases) \(user.viewedItems) \(counts)"
        }
        out.append("open attempts \(engine.funnels.openAttempts)")
        return out
    }

    static func oneByOne(_ lines: [[UInt8]], config: EngineConfig, mapping: CompiledMapping) throws
        -> (lines: [String], stats: EngineStats, state: [String])
    {
        var engine = try Engine(config: config)
        var decoder = RecordDecoder(mapping: mapping)
        decoder.startSource()
        var sink = RecordingSink()
        for (i, line) in lines.enumerated() {
            line.withUnsafeBytes {
                engine.process($0, decoder: &decoder, at: SourcePosition(source: 0, offset: Int64(i + 1)), sink: &sink)
            }
        }
        engine.finish(sink: &sink)
        return (sink.lines, engine.stats, Self.state(of: engine))
    }

    static func batched(_ lines: [[UInt8]], capacity: Int, config: EngineConfig, mapping: CompiledMapping) throws
        -> (lines: [String], stats: EngineStats, state: [String])
    {
        var engine = try Engine(config: config)
        var decoder = RecordDecoder(mapping: mapping)
        decoder.startSource()
        var sink = RecordingSink()
        // All records in one buffer, so every record in a batch stays valid until it is processed.
        var storage: [UInt8] = []
        var ranges: [Range<Int>] = []
        for line in lines {
            ranges.append(storage.count..<(storage.count + line.count))
            storage += line
        }
        storage.withUnsafeBytes { all in
            var batch = EngineBatch(capacity: capacity)
            for (i, range) in ranges.enumerated() {
                batch.append(UnsafeRawBufferPointer(rebasing: all[range]), at: SourcePosition(source: 0, offset: Int64(i + 1)))
                if batch.isFull { engine.process(&batch, decoder: &decoder, sink: &sink) }
            }
            engine.process(&batch, decoder: &decoder, sink: &sink)
            #expect(batch.isEmpty)
        }
        engine.finish(sink: &sink)
        return (sink.lines, engine.stats, Self.state(of: engine))
    }

    /// The checkpoint test's stream (bots, card testing, a duplicate, malformed lines) plus late
    /// events, with the model and alerts on: every kind of output.
    @Test func batchesGiveExactlyTheOutputsOfSingleRecords() throws {
        var lines = CheckpointTests.stream()
        // Late beyond the allowed lateness: a copy of an early event near the end, under a new id.
        var late = String(decoding: lines[50], as: UTF8.self)
        late = late.replacingFirst("\"event_id\":\"", with: "\"event_id\":\"late-")
        lines.insert(Array(late.utf8), at: lines.count - 5)
        lines.insert([], at: 400)  // empty record
        let config = EngineConfig()
        let mapping = try CompiledMapping(.canonicalJSON)
        let single = try Self.oneByOne(lines, config: config, mapping: mapping)
        #expect(single.stats.rejected[Int(DeadLetterReason.late.rawValue)] >= 1)
        #expect(single.lines.count > 5_000)
        for capacity in [1, 3, 16, 64] {
            let batched = try Self.batched(lines, capacity: capacity, config: config, mapping: mapping)
            #expect(batched.stats == single.stats, "capacity \(capacity)")
            #expect(batched.lines == single.lines, "capacity \(capacity)")
            #expect(batched.state == single.state, "capacity \(capacity)")
        }
    }

    /// The staged form (a Kafka poll: records added one at a time, each decoded on arrival, some
    /// rejected by the driver itself) gives the outputs of processing them one by one, driver
    /// rejections in their place in the order.
    @Test func stagedRecordsGiveExactlyTheOutputsOfSingleRecords() throws {
        let lines = CheckpointTests.stream()
        let tombstones = Set(stride(from: 7, to: lines.count, by: 97))
        let failure = DecodeFailure(.tombstone, "null message value (tombstone)")
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        let config = EngineConfig()
        let mapping = try CompiledMapping(.canonicalJSON)

        var reference = try Engine(config: config)
        var referenceDecoder = RecordDecoder(mapping: mapping)
        referenceDecoder.startSource()
        var referenceSink = RecordingSink()
        for (i, line) in lines.enumerated() {
            let position = SourcePosition(source: 0, offset: Int64(i + 1))
            if tombstones.contains(i) {
                reference.countRead()
                reference.reject(failure, record: empty, position: position, sink: &referenceSink)
            } else {
                line.withUnsafeBytes { reference.process($0, decoder: &referenceDecoder, at: position, sink: &referenceSink) }
            }
        }
        reference.finish(sink: &referenceSink)
        #expect(reference.stats.rejected[Int(DeadLetterReason.tombstone.rawValue)] == tombstones.count)

        var storage: [UInt8] = []
        var ranges: [Range<Int>] = []
        for line in lines {
            ranges.append(storage.count..<(storage.count + line.count))
            storage += line
        }
        var engine = try Engine(config: config)
        var decoder = RecordDecoder(mapping: mapping)
        decoder.startSource()
        var sink = RecordingSink()
        storage.withUnsafeBytes { all in
            var batch = EngineBatch(capacity: 16)
            func applyAll() {
                engine.requestRecords(for: batch)
                for i in 0..<batch.count { engine.applyStaged(&batch, at: i, sink: &sink) }
                batch.removeAll()
            }
            for (i, range) in ranges.enumerated() {
                let position = SourcePosition(source: 0, offset: Int64(i + 1))
                if tombstones.contains(i) {
                    engine.stage(rejecting: failure, record: empty, at: position, into: &batch)
                } else {
                    engine.stage(UnsafeRawBufferPointer(rebasing: all[range]), at: position, decoder: &decoder, into: &batch)
                }
                if batch.isFull { applyAll() }
            }
            applyAll()
        }
        engine.finish(sink: &sink)
        #expect(engine.stats == reference.stats)
        #expect(sink.lines == referenceSink.lines)
        #expect(Self.state(of: engine) == Self.state(of: reference))
    }

    /// CSV: the header line is skipped inside a batch exactly as alone, and binds the columns for
    /// the records batched after it.
    @Test func csvHeaderInsideABatch() throws {
        let mapping = try CompiledMapping(MappingSpec(
            format: .csv, csv: .init(header: true),
            fields: ["user_id": .init([.name("uid")]), "type": .init([.name("kind")]),
                     "timestamp": .init([.name("t")]), "item_id": .init([.name("item")])],
            timestampUnit: .s))
        var lines: [[UInt8]] = [Array("uid,kind,t,item\n".utf8)]
        for i in 0..<40 {
            let type = i % 7 == 6 ? "purchase" : (i % 3 == 0 ? "cart" : "view")
            lines.append(Array("u\(i % 5),\(type),\(1_700_000_000 + i * 30),i\(i % 4)\n".utf8))
        }
        lines.insert(Array("u1,teleport,1700000500,i1\n".utf8), at: 10)  // unknown type
        let single = try Self.oneByOne(lines, config: EngineConfig(), mapping: mapping)
        #expect(single.stats.skipped == 1)
        #expect(single.stats.accepted == 40)
        for capacity in [2, 16] {
            let batched = try Self.batched(lines, capacity: capacity, config: EngineConfig(), mapping: mapping)
            #expect(batched.stats == single.stats)
            #expect(batched.lines == single.lines)
        }
    }
}

/// The user index keeps the top bits of each key beside the slot: lookups, evictions and growth
/// must stay exact when keys share their home slot, their tag, or both.
@Suite struct UserStoreIndexTests {
    /// Keys with the same low bits (one home slot, long probe runs) in groups that share the tag
    /// bits too, differing only in the bits between.
    static func collidingKeys(_ n: Int) -> [UInt64] {
        (0..<n).map { i in
            let tagGroup = UInt64(i % 4) << 61  // 4 tags in the top bits
            let middle = UInt64(i) << 24  // distinct, below any tag and above the home bits
            return tagGroup | middle | 0x5A5A
        }
    }

    @Test(arguments: [64, 1_000, 500_000_000])
    func collidingKeysAreFoundAndEvictedExactly(capacity: Int) {
        var store = UserStore(capacity: capacity)
        let keys = Self.collidingKeys(min(capacity, 300))
        for (i, key) in keys.enumerated() {
            let (slot, isNew) = store.findOrInsert(key)
            #expect(isNew)
            store[slot].lastSeen = Int64(i)
        }
        for key in keys {
            let slot = store.slot(of: key)
            #expect(slot != nil)
            if let slot { #expect(store[slot].key == key) }
            #expect(store.findOrInsert(key).isNew == false)
        }
        // An absent key in the same probe run, with the same tag as present ones.
        #expect(store.slot(of: (UInt64(1) << 61) | (UInt64(999_999) << 24) | 0x5A5A) == nil)
        // Evict the older half; the rest stay reachable through shifted probe runs.
        store.evictIdle(before: Int64(keys.count / 2))
        #expect(store.count == keys.count - keys.count / 2)
        for (i, key) in keys.enumerated() {
            #expect((store.slot(of: key) != nil) == (i >= keys.count / 2), "key \(i)")
        }
        // Re-inserting reuses freed slots and finds the same users again.
        for key in keys.prefix(keys.count / 2) { #expect(store.findOrInsert(key).isNew) }
        for key in keys { #expect(store.slot(of: key).map { store[$0].key } == key) }
    }

    @Test func capacityEvictionWithCollidingKeys() {
        var store = UserStore(capacity: 16)
        let keys = Self.collidingKeys(40)
        for key in keys { _ = store.findOrInsert(key) }
        #expect(store.count == 16)
        #expect(store.evictedCapacity == 24)
        for (i, key) in keys.enumerated() { #expect((store.slot(of: key) != nil) == (i >= 24)) }
    }
}

extension String {
    fileprivate func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
