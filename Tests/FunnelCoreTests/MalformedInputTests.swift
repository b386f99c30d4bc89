import Testing
@testable import FunnelCore

/// A corpus of bad records → exact dead-letter reasons and counts; nothing crashes, nothing vanishes.
@Suite("Malformed input")
struct MalformedInputTests {
    static let corpus: [(String, DeadLetterReason)] = [
        (#"{"user_id":"u","type":"view","ts":1700000000"#, .malformedJSON),  // truncated
        (#"{"user_id":"u","type":"view","ts":1700000000}}"#, .malformedJSON),  // trailing bytes
        (#"["user_id","u"]"#, .malformedJSON),
        (#"{"user_id":"u" "type":"view"}"#, .malformedJSON),
        (#"{"user_id":"u\x","type":"view","ts":1700000000}"#, .malformedJSON),  // bad escape
        ("{\"user_id\":\"u\u{01}\",\"type\":\"view\",\"ts\":1700000000}", .malformedJSON),  // control char
        (#"{"user_id":"u","type":"view","ts":01}"#, .malformedJSON),  // leading zero
        (#"{"user_id":"u","type":"view","ts":1700000000,"x":tru}"#, .malformedJSON),
        (#"{"type":"view","ts":1700000000}"#, .missingUser),
        (#"{"user_id":"","type":"view","ts":1700000000}"#, .missingUser),
        (#"{"user_id":{"id":1},"type":"view","ts":1700000000}"#, .badValue),
        (#"{"user_id":"u","type":"view"}"#, .missingTimestamp),
        (#"{"user_id":"u","type":"view","ts":"yesterday"}"#, .badTimestamp),
        (#"{"user_id":"u","type":"view","ts":"2023-02-30T00:00:00Z"}"#, .badTimestamp),
        (#"{"user_id":"u","type":"view","ts":99999999999999999999}"#, .badTimestamp),
        (#"{"user_id":"u","type":"view","ts":4200000000}"#, .timestampOutOfRange),  // year 2103
        (#"{"user_id":"u","type":"view","ts":-5}"#, .timestampOutOfRange),
        (#"{"user_id":"u","ts":1700000000}"#, .missingType),
        (#"{"user_id":"u","type":"teleport","ts":1700000000}"#, .unknownType),
        (#"{"user_id":"u","type":"view","ts":1700000000,"price":"NaN"}"#, .badValue),
        (#"{"user_id":"u","type":"view","ts":1700000000,"price":1e999}"#, .badValue),
        (#"{"user_id":"u","type":"view","ts":1700000000,"price":-3}"#, .badValue),
        (#"{"user_id":"u","type":"view","ts":1700000000,"quantity":1.5}"#, .badValue),
        ("", .emptyRecord),
        ("   ", .emptyRecord),
        (String(repeating: "[", count: 100) + String(repeating: "]", count: 100), .malformedJSON),
        ("{\"user_id\":\"u\",\"type\":\"view\",\"ts\":1700000000,\"p\":" + String(repeating: "[", count: 100)
            + String(repeating: "]", count: 100) + "}", .tooDeep),
    ]

    @Test func eachBadRecordGetsItsReason() throws {
        let m = try CompiledMapping(.canonicalJSON)
        for (text, reason) in Self.corpus {
            let (event, failure) = decode(text, m)
            #expect(event == nil, "accepted: \(text)")
            #expect(failure?.reason == reason, "\(text) → \(String(describing: failure?.reason)), want \(reason)")
        }
    }

    @Test func invalidUTF8AndOversizedRecords() throws {
        var spec = MappingSpec.canonicalJSON
        spec.maxRecordBytes = 200
        var decoder = RecordDecoder(mapping: try CompiledMapping(spec))
        let bad: [UInt8] = Array(#"{"user_id":"u"#.utf8) + [0xC3, 0x28] + Array(#"","type":"view","ts":1700000000}"#.utf8)
        guard case .rejected(let f1) = bad.withUnsafeBytes({ decoder.decode($0) }) else {
            Issue.record("invalid UTF-8 accepted")
            return
        }
        #expect(f1.reason == .invalidUTF8)
        let big = Array(jsonEvent("u", "view", base, extra: "\"pad\":\"" + String(repeating: "x", count: 300) + "\"").utf8)
        guard case .rejected(let f2) = big.withUnsafeBytes({ decoder.decode($0) }) else {
            Issue.record("oversized accepted")
            return
        }
        #expect(f2.reason == .tooLarge)
    }

    /// The ASCII fast path reads 32 and 8 bytes at a time: a bad byte is caught at every offset,
    /// and valid multi-byte characters at every offset pass.
    @Test func utf8CheckedAtEveryOffset() {
        for offset in 0..<80 {
            var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 96)
            bytes[offset] = 0xC3
            bytes[offset + 1] = 0x28  // not a continuation byte
            #expect(!bytes.withUnsafeBytes { UTF8Validation.isValid($0) }, "bad pair at \(offset)")
            bytes[offset + 1] = 0xA9  // é
            #expect(bytes.withUnsafeBytes { UTF8Validation.isValid($0) }, "é at \(offset)")
            bytes[offset] = 0xFF
            #expect(!bytes.withUnsafeBytes { UTF8Validation.isValid($0) }, "0xFF at \(offset)")
        }
    }

    /// The engine counts every record exactly once: accepted + duplicates + rejected by reason = read.
    @Test func engineCountsAreExact() throws {
        var lines = Self.corpus.map(\.0)
        lines += (0..<50).map { jsonEvent("u\($0 % 7)", "view", base + Double($0), id: "e\($0)") }
        // Duplicates (same ids, within the watermark; a late record is `late` before it is a duplicate).
        lines += (45..<50).map { jsonEvent("u1", "view", base + Double($0), id: "e\($0)") }
        var config = EngineConfig()
        config.allowedLatenessSeconds = 5
        lines.append(jsonEvent("late", "view", base + 20, id: "late-0"))  // the max is 49 s → watermark 44 s
        let (engine, sink) = try run(lines, config: config)
        let s = engine.stats
        #expect(s.read == lines.count)
        #expect(s.accepted == 50)
        #expect(s.duplicates == 5)
        #expect(s.rejected[Int(DeadLetterReason.late.rawValue)] == 1)
        #expect(s.rejectedTotal == Self.corpus.count + 1)
        #expect(s.accepted + s.duplicates + s.rejectedTotal == s.read)
        #expect(sink.deadLetters.count == s.rejectedTotal)
        var expected = [DeadLetterReason: Int]()
        for (_, r) in Self.corpus { expected[r, default: 0] += 1 }
        expected[.late, default: 0] += 1
        var got = [DeadLetterReason: Int]()
        for d in sink.deadLetters { got[d.reason, default: 0] += 1 }
        #expect(got == expected)
    }
}
