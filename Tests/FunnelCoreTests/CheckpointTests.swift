import FunnelCore
import Testing

/// Engine checkpoints: a restored engine continues exactly as the uninterrupted one.
@Suite struct CheckpointTests {
    /// Every output as the bytes a sink would publish.
    struct RecordingSink: EngineSink {
        var lines: [String] = []
        var buffer = JSONBuffer(capacity: 4096)

        mutating func deadLetter(_ failure: DecodeFailure, record: UnsafeRawBufferPointer, position: SourcePosition) {
            buffer.reset()
            OutputRecords.encodeDeadLetter(failure, record: record, source: .file("in", line: position.offset),
                                           into: &buffer)
            keep()
        }
        mutating func snapshot(_ snapshot: FunnelSnapshot) {
            buffer.reset()
            OutputRecords.encode(snapshot, into: &buffer)
            keep()
        }
        mutating func score(_ score: ModelScore, event: Event, record: UnsafeRawBufferPointer, position: SourcePosition) {
            buffer.reset()
            ScoreRecord.encode(score, event: event, record: record, names: ScoreRecord.Names(), into: &buffer)
            keep()
        }
        mutating func alert(_ alert: Alert) {
            buffer.reset()
            AlertRecord.encode(alert, into: &buffer)
            keep()
        }
        private mutating func keep() { lines.append(String(decoding: buffer.bytes, as: UTF8.self)) }
    }

    static func stream() -> [[UInt8]] {
        var config = SimulatorConfig(seed: 9, users: 1500, duration: 4 * 3_600_000, disorder: 0.02)
        let hour: Int64 = 3_600_000
        config.incidents = [
            .bots(count: 2, ratePerSecond: 1, start: config.start + hour, end: config.start + 2 * hour),
            .cardTesting(users: 2, attemptsPerUser: 12, approvalRate: 0.3, start: config.start + 2 * hour,
                         end: config.start + 3 * hour),
        ]
        var simulator = Simulator(config: config)
        var lines: [[UInt8]] = []
        var line: [UInt8] = []
        while simulator.next(into: &line) {
            lines.append(line)
            line.removeAll(keepingCapacity: true)
        }
        // A duplicate and a malformed line on each side of the cut.
        lines.insert(lines[100], at: 200)
        lines.insert(Array("{not json".utf8), at: 300)
        lines.append(lines[lines.count / 2 + 10])
        lines.append(Array("{\"user_id\":\"x\"}".utf8))
        return lines
    }

    static func feed(_ lines: ArraySlice<[UInt8]>, into engine: inout Engine, decoder: inout RecordDecoder,
                     sink: inout RecordingSink) {
        for (i, line) in zip(lines.indices, lines) {
            line.withUnsafeBytes {
                engine.process($0, decoder: &decoder, at: SourcePosition(source: 0, offset: Int64(i)), sink: &sink)
            }
        }
    }

    @Test func aRestoredEngineContinuesExactlyLikeTheOriginal() throws {
        let lines = Self.stream()
        #expect(lines.count > 5_000)
        let config = EngineConfig()
        let mapping = try CompiledMapping(.canonicalJSON)
        let cut = lines.count / 2

        var original = try Engine(config: config)
        var decoder = RecordDecoder(mapping: mapping)
        var before = RecordingSink()
        Self.feed(lines[..<cut], into: &original, decoder: &decoder, sink: &before)
        let bytes = try original.checkpoint()

        var restored = try Engine(config: config, checkpoint: bytes)
        // The decoder holds no state between records; a fresh one stands for the restarted process.
        var restoredDecoder = RecordDecoder(mapping: mapping)
        var afterOriginal = RecordingSink()
        var afterRestored = RecordingSink()
        Self.feed(lines[cut...], into: &original, decoder: &decoder, sink: &afterOriginal)
        Self.feed(lines[cut...], into: &restored, decoder: &restoredDecoder, sink: &afterRestored)
        original.finish(sink: &afterOriginal)
        restored.finish(sink: &afterRestored)

        #expect(afterOriginal.lines.count > 1_000)
        #expect(afterRestored.lines == afterOriginal.lines)
        #expect(restored.stats == original.stats)
        #expect(restored.users.count == original.users.count)
        #expect(restored.model?.version == original.model?.version)
        #expect(afterOriginal.lines.contains { $0.contains("\"funnelpulse.alert.v1\"") })
        // A checkpoint of the restored engine restores too (padding bytes inside plain records may
        // differ between the two engines, so the byte strings are not compared).
        let again = try Engine(config: config, checkpoint: try restored.checkpoint())
        #expect(again.stats == restored.stats)
    }

    @Test func damagedOrForeignCheckpointsAreRefusedWithAReason() throws {
        var engine = try Engine(config: EngineConfig())
        var decoder = RecordDecoder(mapping: try CompiledMapping(.canonicalJSON))
        var sink = RecordingSink()
        Self.feed(Self.stream()[..<2_000], into: &engine, decoder: &decoder, sink: &sink)
        let bytes = try engine.checkpoint()

        func refusal(_ bytes: [UInt8], config: EngineConfig = EngineConfig()) -> String? {
            do {
                _ = try Engine(config: config, checkpoint: bytes)
                return nil
            } catch {
                return error.message
            }
        }
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x40
        #expect(refusal(flipped)?.contains("checksum") == true)
        #expect(refusal(Array(bytes.dropLast(7)))?.contains("payload bytes") == true)
        #expect(refusal(Array(bytes.prefix(10)))?.contains("magic") == true)
        var other = EngineConfig()
        other.allowedLatenessSeconds = 30
        #expect(refusal(bytes, config: other)?.contains("another engine configuration") == true)
        var versioned = bytes
        versioned[8] = 99
        #expect(refusal(versioned)?.contains("format 99") == true)
        #expect(refusal(bytes) == nil)
    }
}
