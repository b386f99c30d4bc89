import Foundation
import FunnelCore
import FunnelDaemon
import FunnelFuzzSupport
import Testing

/// Mutated simulated records through the engine and through `replay`: nothing crashes and every
/// record is accounted for exactly once. `funnelpulse-bench hostile` runs the same with 1,000,000
/// records (release build, in CI); these run 100,000 in the debug test build.
@Suite("Mutated streams", .serialized)
struct MutatedStreamTests {
    static let records = 100_000

    /// Every record is accepted, a dropped duplicate or dead-lettered with a reason; the sums match
    /// `EngineStats` and the dead letters the sink saw; targeted mutations get exactly the expected fate.
    @Test func mutatedStreamThroughTheEngine() throws {
        let report = try HostileRun.engine(records: Self.records, seed: 7)
        let s = report.stats
        #expect(s.read + s.skipped == Self.records)
        #expect(s.skipped == 0)
        #expect(s.accepted + s.duplicates + s.rejectedTotal == s.read)
        #expect(report.sinkDeadLetters == s.rejectedTotal)
        #expect(report.sinkDeadLettersByReason == s.rejected)
        #expect(report.unexpected.isEmpty, "\(report.unexpected.prefix(10))")
        // Every kind of mutation occurred, and the clean records kept their fate.
        for mutation in HostileStream.Mutation.allCases where mutation != .oversized {
            #expect(report.byMutation[mutation, default: [:]].values.reduce(0, +) > 0, "\(mutation) never generated")
        }
        #expect(report.byMutation[.none]?[.accepted] == report.byMutation[.none]?.values.reduce(0, +))
        #expect(s.duplicates > 0 && s.rejected[Int(DeadLetterReason.late.rawValue)] > 0)
        for reason: DeadLetterReason in [.malformedJSON, .badValue, .tooDeep, .invalidUTF8, .timestampOutOfRange,
                                          .badTimestamp, .emptyRecord, .missingUser, .unknownType] {
            #expect(s.rejected[Int(reason.rawValue)] > 0, "no \(reason.name)")
        }
    }

    /// The same generator is deterministic: the same seed gives the same counts.
    @Test func sameSeedSameCounts() throws {
        let a = try HostileRun.engine(records: 5_000, seed: 11)
        let b = try HostileRun.engine(records: 5_000, seed: 11)
        #expect(a.stats == b.stats)
        #expect(a.byMutation == b.byMutation)
    }

    /// Through the daemon's replay path (LineReader, ReplayDriver, file outputs): two files, the
    /// targeted and the blind mutations; summary.json accounts for every line.
    @Test func mutatedFilesThroughReplay() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fp-hostile-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FunnelPulseConfig()
        config.engine.model.enabled = true
        let mapping = try CompiledMapping(.canonicalJSON)
        let report = try HostileRun.replay(records: Self.records, seed: 3, directory: dir) { inputs, out in
            _ = try ReplayDriver(options: .init(inputs: inputs, outputDirectory: out, mapping: mapping,
                                                config: config, progress: false)).run()
        }
        #expect(report.lines == Self.records)
        #expect(report.summaryRead == report.lines)
        #expect(report.summarySkipped == 0)
        #expect(report.summaryAccepted + report.summaryDuplicates + report.summaryRejected == report.summaryRead)
        #expect(report.deadLetterLines == report.summaryRejected)
        // Decoding does not depend on order: the decoder-level reasons match a standalone decode of
        // every line exactly; the rest (accepted, duplicates, late) adds up to the decoded events.
        #expect(report.decoderMismatches.isEmpty, "\(report.decoderMismatches)")
        #expect(report.summaryAccepted + report.summaryDuplicates + report.summaryLate == report.decodedEvents)
    }
}
