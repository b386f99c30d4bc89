import Foundation
import FunnelCore
import FunnelDaemon
import FunnelFuzzSupport
import Testing

/// The fuzz seed corpus (and every crash input added to it) through the fuzz targets' checks, in
/// every `swift test`, with or without libFuzzer.
@Suite("Fuzz corpus")
struct FuzzCorpusTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func corpus(_ shape: FuzzShape) throws -> [(name: String, bytes: [UInt8])] {
        let dir = repoRoot.appendingPathComponent("Tests/FuzzCorpus/\(shape.rawValue)")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        return try names.map { name in
            (name, Array(try Data(contentsOf: dir.appendingPathComponent(name))))
        }
    }

    @Test(arguments: FuzzShape.allCases)
    func everyCorpusInputKeepsTheInvariants(shape: FuzzShape) throws {
        let inputs = try Self.corpus(shape)
        #expect(inputs.count >= 15, "seed corpus of \(shape.rawValue)")
        var harness = try HostileInputHarness(shape: shape)
        for input in inputs {
            do {
                try harness.run(input.bytes)
            } catch {
                Issue.record("\(shape.rawValue)/\(input.name): \(error.message)")
            }
        }
        // The seeds reach both sides: accepted events and dead letters.
        let totals = harness.totals
        #expect(totals.accepted > 0 && totals.rejectedTotal > 0, "\(shape.rawValue): \(totals)")
        #expect(totals.records == totals.accepted + totals.duplicates + totals.rejectedTotal + totals.skipped)
    }

    /// The checks catch what they claim to: a harness fed a mapping that accepts what the checks
    /// forbid would fail. Here, event checks against hand-made bad events.
    @Test func eventChecksRejectMalformedEvents() throws {
        let record = Array(#"{"user_id":"u","ts":1700000000000,"type":"view"}"#.utf8)
        try record.withUnsafeBytes { buffer in
            var good = Event()
            good.timestamp = 1_700_000_000_000_000
            good.user = Span(start: 13, count: 1)
            good.userKey = 42
            try EventChecks.check(good, record: buffer)

            var bad = good
            bad.price = -1
            #expect(throws: InvariantViolation.self) { try EventChecks.check(bad, record: buffer) }
            bad = good
            bad.price = .infinity
            #expect(throws: InvariantViolation.self) { try EventChecks.check(bad, record: buffer) }
            bad = good
            bad.timestamp = TimestampParsing.latest
            #expect(throws: InvariantViolation.self) { try EventChecks.check(bad, record: buffer) }
            bad = good
            bad.item = Span(start: 40, count: 20)  // past the end of the record
            bad.itemKey = 7
            #expect(throws: InvariantViolation.self) { try EventChecks.check(bad, record: buffer) }
            bad = good
            bad.device = Span(start: 1, count: 2)  // present but not keyed
            #expect(throws: InvariantViolation.self) { try EventChecks.check(bad, record: buffer) }
            bad = good
            bad.quantity = -1
            #expect(throws: InvariantViolation.self) { try EventChecks.check(bad, record: buffer) }
        }
    }

    /// The fuzz targets' copies of the shipped CSV mappings are the shipped files.
    @Test(arguments: [
        ("taobao-userbehavior.yaml", FuzzMappings.taobao),
        ("rees46-ecommerce.yaml", FuzzMappings.rees46),
        ("retailrocket-events.yaml", FuzzMappings.retailrocket),
    ])
    func mappingCopiesMatchTheShippedFiles(file: String, copy: MappingSpec) throws {
        let path = Self.repoRoot.appendingPathComponent("deploy/mappings/\(file)").path
        #expect(try ConfigLoader.loadMapping(path: path).spec == copy)
    }

    @Test func nestedMappingCompiles() throws {
        let mapping = try CompiledMapping(FuzzMappings.nestedJSON)
        #expect(mapping.spec.format == .json && mapping.maxRecordBytes == 2048)
    }
}
