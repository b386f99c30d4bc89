@testable import FunnelCore
import FunnelFuzzSupport
import Testing

/// The defined outcome of each kind of hostile input (docs: the "Hostile input" table).
@Suite("Hostile input: defined outcomes")
struct HostileOutcomeTests {
    static let t0: Int64 = 1_700_000_000_000  // ms, 2023-11-14T22:13:20Z

    static func line(ts: String = "\(t0)", id: String = "e-1", extra: String = "") -> String {
        #"{"event_id":"\#(id)","ts":\#(ts),"user_id":"u-1","type":"cart","item_id":"i-1"\#(extra)}"#
    }

    /// Decodes one record with a fresh decoder.
    static func outcome(_ bytes: [UInt8], _ spec: MappingSpec = .canonicalJSON) throws -> DecodeOutcome {
        var decoder = RecordDecoder(mapping: try CompiledMapping(spec))
        return bytes.withUnsafeBytes { decoder.decode($0) }
    }

    static func reason(_ bytes: [UInt8], _ spec: MappingSpec = .canonicalJSON) throws -> DeadLetterReason? {
        if case .rejected(let f) = try outcome(bytes, spec) { return f.reason }
        return nil
    }

    static func event(_ text: String, _ spec: MappingSpec = .canonicalJSON) throws -> Event? {
        if case .event(let e) = try outcome(Array(text.utf8), spec) { return e }
        return nil
    }

    /// Runs lines through a checked engine (every invariant of the fuzz harness) and returns the fates.
    static func fates(_ lines: [String], config: EngineConfig = EngineConfig()) throws -> ([RecordFate], CheckedEngine) {
        var run = try CheckedEngine(config: config, mapping: try CompiledMapping(.canonicalJSON))
        var fates: [RecordFate] = []
        for (i, line) in lines.enumerated() {
            let bytes = Array((line + "\n").utf8)
            fates.append(try bytes.withUnsafeBytes { try run.record($0, source: 0, offset: Int64(i + 1)) })
        }
        try run.end()
        return (fates, run)
    }

    // MARK: - Oversized

    @Test func oversizedRecordIsTooLargeAndTheLimitExcludesTheLineTerminator() throws {
        var spec = MappingSpec.canonicalJSON
        spec.maxRecordBytes = 256
        let base = Self.line(extra: #","properties":{"pad":""}"#)
        let pad = String(repeating: "x", count: 256 - base.count)
        let atLimit = Self.line(extra: #","properties":{"pad":"\#(pad)"}"#)
        #expect(atLimit.utf8.count == 256)
        // Exactly the limit: accepted, as a Kafka message and as a file line (with "\n" or "\r\n").
        for suffix in ["", "\n", "\r\n"] {
            #expect(try Self.event(atLimit + suffix, spec) != nil, "at the limit with \(suffix.debugDescription)")
        }
        // One byte over: too_large, before anything else is looked at (here: invalid UTF-8 too).
        #expect(try Self.reason(Array((atLimit + "x").utf8), spec) == .tooLarge)
        #expect(try Self.reason(Array(atLimit.utf8) + [0xFF], spec) == .tooLarge)
        // The shipped default (64 KiB) on the canonical mapping.
        let big = Self.line(extra: #","properties":{"pad":"\#(String(repeating: "x", count: 70_000))"}"#)
        #expect(try Self.reason(Array(big.utf8)) == .tooLarge)
    }

    // MARK: - Deep nesting

    @Test func nestingDeeperThan64LevelsIsTooDeep() throws {
        func nested(_ arrays: Int) -> String {
            Self.line(extra: #","properties":{"a":\#(String(repeating: "[", count: arrays))\#(String(repeating: "]", count: arrays))}"#)
        }
        // The record is level 1 and `properties` level 2: 62 arrays inside make 64 levels.
        #expect(try Self.event(nested(62)) != nil)
        #expect(try Self.reason(Array(nested(63).utf8)) == .tooDeep)
        #expect(try Self.reason(Array(nested(30_000).utf8)) == .tooDeep)
        // Deep objects in an unmapped key are just as deep.
        let objects = String(repeating: #"{"a":"#, count: 70) + "1" + String(repeating: "}", count: 70)
        #expect(try Self.reason(Array(Self.line(extra: #","zzz":\#(objects)"#).utf8)) == .tooDeep)
        // A top-level array is not an object: malformed_json, whatever its depth (never recursed into).
        #expect(try Self.reason(Array((String(repeating: "[", count: 60_000)).utf8)) == .malformedJSON)
        // Through a nested-path mapping: the same limit.
        let paths = #"{"userId":"u","event":"view","timestamp":1704067200,"context":{"device":{"type":"m","x":"#
            + String(repeating: "[", count: 70) + String(repeating: "]", count: 70) + "}}}"
        #expect(try Self.reason(Array(paths.utf8), FuzzMappings.nestedJSON) == .tooDeep)
    }

    // MARK: - Invalid UTF-8

    @Test(arguments: [
        [0xC3, 0x28],  // bad continuation
        [0x80],  // stray continuation byte
        [0xC0, 0xAF],  // overlong "/"
        [0xE0, 0x80, 0xAF],  // overlong, 3 bytes
        [0xED, 0xA0, 0x80],  // UTF-16 surrogate
        [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
        [0xF5, 0x80, 0x80, 0x80],  // never valid lead byte
        [0xFF],
        [0xE2, 0x82],  // truncated
    ] as [[UInt8]])
    func invalidUTF8AnywhereIsInvalidUTF8(bad: [UInt8]) throws {
        let head = Array(#"{"event_id":"e","ts":1700000000000,"user_id":"u"#.utf8)
        let tail = Array(#"","type":"view"}"#.utf8)
        // In a mapped value, in an unmapped value, at the very end, and in a CSV column.
        #expect(try Self.reason(head + bad + tail) == .invalidUTF8)
        #expect(try Self.reason(Array(Self.line(extra: #","x":""#).utf8).dropLast(2) + bad + Array(#""}"#.utf8)) == .invalidUTF8)
        #expect(try Self.reason(Array(Self.line().utf8) + bad) == .invalidUTF8)
        #expect(try Self.reason(Array("543462,1715,1464116,pv,".utf8) + bad, FuzzMappings.taobao) == .invalidUTF8)
    }

    @Test func validUTF8AndEscapedSurrogates() throws {
        // Valid multi-byte text is fine everywhere; a CSV header's BOM is dropped.
        #expect(try Self.event(#"{"ts":1700000000000,"user_id":"ü€😀","type":"view","device":"📱"}"#) != nil)
        // A lone surrogate written as an escape is valid UTF-8 but not text: malformed_json when the
        // field is used, ignored in fields nobody reads.
        #expect(try Self.reason(Array(#"{"ts":1700000000000,"user_id":"\ud800","type":"view"}"#.utf8)) == .malformedJSON)
        #expect(try Self.event(#"{"ts":1700000000000,"user_id":"u","type":"view","note":"\ud800"}"#) != nil)
    }

    // MARK: - NaN / infinite / huge prices

    @Test func nonFiniteOrNegativePricesAreBadValue() throws {
        for price in [#""NaN""#, #""nan""#, #""Infinity""#, #""-inf""#, "1e999", "-1e999", "-0.01", #""abc""#, "true", "{}", "[1]"] {
            #expect(try Self.reason(Array(Self.line(extra: #","price":\#(price)"#).utf8)) == .badValue, "price \(price)")
        }
        // JSON has no NaN or Infinity literal: the record is not JSON.
        for price in ["NaN", "Infinity", "-Infinity"] {
            #expect(try Self.reason(Array(Self.line(extra: #","price":\#(price)"#).utf8)) == .malformedJSON, "price \(price)")
        }
        // CSV (rees46 has a price column).
        let header = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
        for price in ["NaN", "inf", "-1", "1e999"] {
            var decoder = RecordDecoder(mapping: try CompiledMapping(FuzzMappings.rees46))
            _ = Array(header.utf8).withUnsafeBytes { decoder.decode($0) }
            let row = Array("2019-10-01 00:00:00 UTC,view,1,2,,b,\(price),7,s".utf8)
            guard case .rejected(let f) = row.withUnsafeBytes({ decoder.decode($0) }) else {
                Issue.record("price \(price) accepted")
                continue
            }
            #expect(f.reason == .badValue)
        }
    }

    @Test func absentEmptyZeroAndHugeFinitePricesAreAccepted() throws {
        #expect(try Self.event(Self.line())?.price.isNaN == true)  // absent: no price
        #expect(try Self.event(Self.line(extra: #","price":"""#))?.price.isNaN == true)  // empty string: absent
        #expect(try Self.event(Self.line(extra: #","price":null"#))?.price.isNaN == true)
        #expect(try Self.event(Self.line(extra: #","price":-0"#))?.price == 0)
        #expect(try Self.event(Self.line(extra: #","price":"59.90""#))?.price == 59.9)
        #expect(try Self.event(Self.line(extra: #","price":1e300"#))?.price == 1e300)
        #expect(try Self.event(Self.line(extra: #","price":1.7976931348623157e308"#))?.price == .greatestFiniteMagnitude)
    }

    /// A huge but finite price used to overflow the user's Float cart value to ∞ (and ∞ − ∞ to NaN),
    /// which turned the model's features, and every later score of that user, into NaN.
    @Test func hugeFinitePricesKeepCartValueAndScoresFinite() throws {
        var lines: [String] = []
        for (i, (type, price)) in [("cart", "1e300"), ("cart", "1e39"), ("remove_from_cart", "1.7976931348623157e308"),
                                   ("cart", "3.4e38"), ("view", "1"), ("checkout", "1")].enumerated() {
            lines.append(#"{"event_id":"h\#(i)","ts":\#(Self.t0 + Int64(i) * 1000),"user_id":"u-big","type":"\#(type)","item_id":"i","price":\#(price),"quantity":1000000}"#)
        }
        let (fates, run) = try Self.fates(lines)
        #expect(fates == Array(repeating: .accepted, count: lines.count))
        #expect(run.scores > 0)  // the checked sink fails the run on any score outside [0, 1]
        let slot = try #require(run.engine.users.slot(of: StableHash.hash("u-big") == 0 ? 1 : StableHash.hash("u-big")))
        let value = run.engine.users[slot].cartValue
        #expect(value.isFinite && value >= 0)
    }

    // MARK: - Timestamps far in the future or the past

    @Test func timestampsOutsideTheRangeAreOutOfRangeAndUnreadableOnesBad() throws {
        // [1990-01-01, 2100-01-01) UTC, in whatever unit the mapping reads.
        let outOfRange = [
            "4102444800000", "4102444800", "\"2100-01-01T00:00:00Z\"", "\"9999-12-31T23:59:59Z\"",  // 2100 and later
            "631151999999", "0", "-1", "\"1989-12-31T23:59:59Z\"", "\"0000-01-01T00:00:00Z\"",  // before 1990
        ]
        for ts in outOfRange {
            #expect(try Self.reason(Array(Self.line(ts: ts).utf8)) == .timestampOutOfRange, "ts \(ts)")
        }
        for ts in ["99999999999999999999", "1e30", "-9223372036854775808", "\"soon\"", "\"2023-02-30T00:00:00Z\"", "true"] {
            #expect(try Self.reason(Array(Self.line(ts: ts).utf8)) == .badTimestamp, "ts \(ts)")
        }
        #expect(try Self.event(Self.line(ts: "631152000000")) != nil)  // 1990-01-01 exactly
        #expect(try Self.event(Self.line(ts: "4102444799999")) != nil)  // the last accepted millisecond
        #expect(try Self.reason(Array("1,2,3,pv,4102444800".utf8), FuzzMappings.taobao) == .timestampOutOfRange)
    }

    /// An in-range timestamp far ahead of the stream (2099 in a 2023 stream) is accepted: event time
    /// is the producer's. It moves its source's progress, so that source's later events are late;
    /// and the jump of the watermark at the end of the input costs a bounded number of windows
    /// (it used to close one window per minute of the jump: 40 million for 2099).
    @Test func farFutureInRangeIsAcceptedAndTheWindowJumpIsBounded() throws {
        let lines = [
            Self.line(ts: "\(Self.t0)", id: "a"),
            Self.line(ts: "4070908800000", id: "b"),  // 2099-01-01
            Self.line(ts: "\(Self.t0 + 1000)", id: "c"),
        ]
        let clock = ContinuousClock()
        let started = clock.now
        let (fates, run) = try Self.fates(lines)
        #expect(fates == [.accepted, .accepted, .rejected(.late)])
        let tracker = run.engine.funnels
        let limit = tracker.maxEmptyWindows
        // Three windows with events or expiries, then at most `limit` empty ones per jump.
        #expect(run.snapshots <= (3 + 2 * (limit + 1)) * run.engine.config.funnels.count)
        #expect(tracker.skippedEmptyWindows > 39_000_000)
        #expect(clock.now - started < .seconds(30))
    }

    /// The same jump mid-stream: every window up to the limit is emitted, then the tracker jumps to
    /// the window of the next event; the window after the gap counts that event.
    @Test func longGapEmitsUpToTheLimitThenJumps() throws {
        var config = EngineConfig()
        config.alerts.enabled = false
        config.model.enabled = false
        let gapDays: Int64 = 3
        var lines: [String] = []
        for i in 0..<10 { lines.append(Self.line(ts: "\(Self.t0 + Int64(i) * 1000)", id: "a\(i)")) }
        for i in 0..<10 { lines.append(Self.line(ts: "\(Self.t0 + gapDays * 86_400_000 + Int64(i) * 1000)", id: "b\(i)")) }
        let (fates, run) = try Self.fates(lines, config: config)
        #expect(fates.allSatisfy { $0 == .accepted })
        let limit = Int64(run.engine.funnels.maxEmptyWindows)
        #expect(limit == 60)  // the longest rolling window (3600 s) in 60-s windows
        // The gap's windows, less the ones emitted: conversion-window expiries (30 min after the
        // last attempts start) still land in it, then `limit` empty windows.
        let windows = gapDays * 1440
        let expiryWindows = Int64(config.funnels[0].conversionWindowSeconds / config.funnelWindowSeconds)
        let skipped = run.engine.funnels.skippedEmptyWindows
        #expect(skipped >= windows - expiryWindows - limit - 3, "skipped \(skipped)")
        #expect(skipped <= windows - limit, "skipped \(skipped)")
        // Every window that is emitted holds something or is one of the `limit` after it.
        #expect(run.snapshots <= Int(windows - skipped + 2) * config.funnels.count)
    }

    /// A far-past timestamp inside the range, after the stream started, is simply late.
    @Test func farPastInRangeIsLate() throws {
        let (fates, _) = try Self.fates([Self.line(id: "a"), Self.line(ts: "631152000000", id: "b")])
        #expect(fates == [.accepted, .rejected(.late)])
    }
}
