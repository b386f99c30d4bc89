import FunnelCore

/// A broken invariant: what was expected, for the crash report or the test failure.
public struct InvariantViolation: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The decoder shapes the fuzz targets cover, one executable each.
public enum FuzzShape: String, CaseIterable, Sendable {
    /// The built-in canonical JSON mapping (`MappingSpec.canonicalJSON`).
    case jsonCanonical = "json-canonical"
    /// ``FuzzMappings/nestedJSON``: fields behind dotted JSON paths.
    case jsonPaths = "json-paths"
    /// ``FuzzMappings/taobao``: headerless CSV, columns by index.
    case csvHeadless = "csv-taobao"
    /// ``FuzzMappings/rees46`` and ``FuzzMappings/retailrocket``: CSV bound by a header line.
    case csvHeader = "csv-header"

    public var mappings: [MappingSpec] {
        switch self {
        case .jsonCanonical: [.canonicalJSON]
        case .jsonPaths: [FuzzMappings.nestedJSON]
        case .csvHeadless: [FuzzMappings.taobao]
        case .csvHeader: [FuzzMappings.rees46, FuzzMappings.retailrocket]
        }
    }
}

/// Feeds arbitrary bytes through ``RecordDecoder`` and an ``Engine`` and checks what must hold
/// whatever the input: every record ends as exactly one of event / rejected (with a reason a
/// decoder can give) / skipped; a decoded event is well formed; the engine counts it exactly once
/// (`read == accepted + duplicates + rejected`, every rejection seen by the sink once, with the
/// decoder's reason); funnel counters are conserved; scores are probabilities.
///
/// Each input is used twice, against fresh state (so a failure reproduces from the input alone):
/// as one message (the Kafka path: the whole input is one record) and as a file (the replay
/// path: one record per line, lines alternating between two sources).
public struct HostileInputHarness {
    public let shape: FuzzShape
    let mappings: [CompiledMapping]
    let config: EngineConfig

    /// Reasons only drivers or the engine give, never a decoder.
    static let driverReasons: Set<DeadLetterReason> = [.late, .tombstone]

    public init(shape: FuzzShape, config: EngineConfig = HostileInputHarness.smallEngine) throws {
        self.shape = shape
        mappings = try shape.mappings.map { try CompiledMapping($0) }
        try config.validate()
        self.config = config
    }

    /// The default engine (model and alerts on) with small tables, so creating one per input is cheap
    /// and the capacity paths (user eviction, early dedupe rotation, pending-label cap) are reached;
    /// and 5-minute funnel windows, so an input spanning hours closes few windows (closing windows
    /// is most of the time per input).
    public static var smallEngine: EngineConfig {
        var c = EngineConfig()
        c.funnelWindowSeconds = 300
        c.rollingWindowSeconds = [900, 3600]
        c.maxUsers = 16
        c.dedupeCapacity = 16
        c.model.hashBits = 12
        c.model.pendingCapacity = 16
        c.model.qualityWindow = 100
        // The per-entity fraud tables are fixed-size and zeroed on creation: small ones keep a
        // fresh engine per input cheap and reach their replacement paths.
        c.alerts.entities.setTableCapacities(64)
        return c
    }

    /// Totals over the inputs run so far.
    public private(set) var totals = RunTotals()

    public mutating func run(_ input: UnsafeRawBufferPointer) throws(InvariantViolation) {
        for mapping in mappings {
            try runMessage(input, mapping: mapping)
            try runFile(input, mapping: mapping)
        }
    }

    public mutating func run(_ input: [UInt8]) throws(InvariantViolation) {
        var violation: InvariantViolation?
        input.withUnsafeBytes { buffer in
            do throws(InvariantViolation) { try run(buffer) } catch { violation = error }
        }
        if let violation { throw violation }
    }

    // MARK: - Paths

    private mutating func runMessage(_ input: UnsafeRawBufferPointer, mapping: CompiledMapping) throws(InvariantViolation) {
        var run = try CheckedEngine(config: config, mapping: mapping)
        try run.record(input, source: 0, offset: 0)
        try run.end()
        totals.add(run)
    }

    private mutating func runFile(_ input: UnsafeRawBufferPointer, mapping: CompiledMapping) throws(InvariantViolation) {
        var run = try CheckedEngine(config: config, mapping: mapping)
        run.engine.registerSource(0)
        run.engine.registerSource(1)
        var start = 0
        var line: Int64 = 0
        let n = input.count
        while start < n {
            var end = start
            while end < n && input[end] != 0x0A { end += 1 }
            if end < n { end += 1 }  // the newline stays on the record, as LineReader delivers it
            line += 1
            try run.record(UnsafeRawBufferPointer(rebasing: input[start..<end]), source: Int32(line & 1), offset: line)
            start = end
        }
        run.engine.setSourceIdle(0, true)
        run.engine.setSourceIdle(1, true)
        try run.end()
        totals.add(run)
    }
}

/// Outcome counts over many inputs (what the deterministic tests report and check).
public struct RunTotals: Sendable, Equatable {
    public var records = 0
    public var events = 0
    public var skipped = 0
    public var accepted = 0
    public var duplicates = 0
    public var rejected = [Int](repeating: 0, count: DeadLetterReason.allCases.count)
    public var snapshots = 0
    public var scores = 0
    public var alerts = 0
    public var rejectedTotal: Int { rejected.reduce(0, +) }

    public init() {}

    mutating func add(_ run: CheckedEngine) {
        let s = run.engine.stats
        records += s.read + s.skipped
        events += run.decodedEvents
        skipped += s.skipped
        accepted += s.accepted
        duplicates += s.duplicates
        for i in rejected.indices { rejected[i] += s.rejected[i] }
        snapshots += run.sink.snapshots
        scores += run.sink.scores
        alerts += run.sink.alerts
    }
}

/// One engine, one decoder, one checking sink: records go in one at a time and each one's fate is
/// checked against what the decoder said and what the engine and the sink counted.
public struct CheckedEngine {
    public internal(set) var engine: Engine
    var decoder: RecordDecoder
    var sink = CheckingSink()
    public private(set) var decodedEvents = 0
    let isCSV: Bool

    public var stats: EngineStats { engine.stats }
    /// Dead letters the sink received, in total and by reason (index: `DeadLetterReason.rawValue`).
    public var sinkDeadLetters: Int { sink.deadLetters }
    public var sinkDeadLettersByReason: [Int] { sink.byReason }
    public var sinkAccepted: Int { sink.accepted }
    public var snapshots: Int { sink.snapshots }
    public var scores: Int { sink.scores }

    public init(config: EngineConfig, mapping: CompiledMapping) throws(InvariantViolation) {
        do {
            engine = try Engine(config: config)
        } catch {
            throw InvariantViolation("engine configuration rejected: \(error)")
        }
        decoder = RecordDecoder(mapping: mapping)
        decoder.startSource()
        isCSV = mapping.spec.format == .csv
    }

    /// Decodes one record, checks the outcome, applies it and checks what the engine counted.
    @discardableResult
    public mutating func record(_ record: UnsafeRawBufferPointer, source: Int32, offset: Int64)
        throws(InvariantViolation) -> RecordFate
    {
        let outcome = decoder.decode(record)
        let before = engine.stats
        let sinkBefore = sink.counts
        switch outcome {
        case .event(let event):
            decodedEvents += 1
            try EventChecks.check(event, record: record)
        case .rejected(let failure):
            guard !HostileInputHarness.driverReasons.contains(failure.reason) else {
                throw InvariantViolation("a decoder gave the driver-only reason \(failure.reason.name)")
            }
            guard failure.offset >= -1, failure.offset <= record.count else {
                throw InvariantViolation("failure offset \(failure.offset) outside the record (\(record.count) bytes)")
            }
        case .skipped:
            guard isCSV else { throw InvariantViolation("a JSON record was skipped instead of decoded or rejected") }
        }

        engine.ingest(outcome, record: record, at: SourcePosition(source: source, offset: offset), sink: &sink)
        if let violation = sink.violation { throw InvariantViolation(violation) }

        let after = engine.stats
        let sinkAfter = sink.counts
        let dRead = after.read - before.read
        let dSkipped = after.skipped - before.skipped
        let dAccepted = after.accepted - before.accepted
        let dDuplicates = after.duplicates - before.duplicates
        let dRejected = after.rejectedTotal - before.rejectedTotal
        let dDead = sinkAfter.deadLetters - sinkBefore.deadLetters
        let dSinkAccepted = sinkAfter.accepted - sinkBefore.accepted
        switch outcome {
        case .skipped:
            guard dSkipped == 1, dRead == 0, dAccepted == 0, dDuplicates == 0, dRejected == 0, dDead == 0 else {
                throw InvariantViolation("a skipped record changed more than `skipped`")
            }
        case .rejected(let failure):
            let r = Int(failure.reason.rawValue)
            guard dRead == 1, dSkipped == 0, dAccepted == 0, dDuplicates == 0, dRejected == 1,
                after.rejected[r] - before.rejected[r] == 1, dDead == 1, sink.lastReason == failure.reason
            else {
                throw InvariantViolation("a \(failure.reason.name) rejection was not counted exactly once under its reason")
            }
        case .event:
            let late = after.rejected[Int(DeadLetterReason.late.rawValue)] - before.rejected[Int(DeadLetterReason.late.rawValue)]
            guard dRead == 1, dSkipped == 0, dAccepted + dDuplicates + dRejected == 1, dRejected == late,
                dDead == dRejected, dSinkAccepted == dAccepted
            else {
                throw InvariantViolation(
                    "a decoded event was not exactly one of accepted/duplicate/late (accepted \(dAccepted), duplicates \(dDuplicates), rejected \(dRejected), late \(late))")
            }
            if late == 1, sink.lastReason != .late {
                throw InvariantViolation("a late event reached the sink with another reason")
            }
        }
        try checkTotals()
        switch outcome {
        case .skipped: return .skipped
        case .rejected(let failure): return .rejected(failure.reason)
        case .event:
            if dAccepted == 1 { return .accepted }
            return dDuplicates == 1 ? .duplicate : .rejected(.late)
        }
    }

    /// Ends the input (releases buffered events, emits the open window) and checks the totals and
    /// the funnel counters.
    public mutating func end() throws(InvariantViolation) {
        engine.finish(sink: &sink)
        if let violation = sink.violation { throw InvariantViolation(violation) }
        try checkTotals()
        for counters in engine.funnels.funnels {
            let steps = counters.totalStats
            for (i, s) in steps.enumerated() {
                guard s.entered >= 0, s.converted >= 0, s.dropped >= 0, s.inFlight >= 0 else {
                    throw InvariantViolation("funnel '\(counters.spec.name)' step \(i) has a negative counter")
                }
                if i + 1 < steps.count {
                    guard s.entered == s.converted + s.dropped + s.inFlight else {
                        throw InvariantViolation("funnel '\(counters.spec.name)' step \(i): entered ≠ converted + dropped + in flight")
                    }
                    guard steps[i + 1].entered == s.converted else {
                        throw InvariantViolation("funnel '\(counters.spec.name)' step \(i + 1): entered ≠ converted from step \(i)")
                    }
                }
            }
            if let first = steps.first, first.entered > Int64(engine.stats.accepted) {
                throw InvariantViolation("funnel '\(counters.spec.name)' has more attempts than accepted events")
            }
        }
    }

    func checkTotals() throws(InvariantViolation) {
        let s = engine.stats
        guard s.read == s.accepted + s.duplicates + s.rejectedTotal else {
            throw InvariantViolation(
                "read \(s.read) ≠ accepted \(s.accepted) + duplicates \(s.duplicates) + rejected \(s.rejectedTotal)")
        }
        guard sink.deadLetters == s.rejectedTotal, sink.accepted == s.accepted else {
            throw InvariantViolation("the sink saw \(sink.deadLetters) dead letters / \(sink.accepted) events, the stats say \(s.rejectedTotal) / \(s.accepted)")
        }
        for reason in DeadLetterReason.allCases where sink.byReason[Int(reason.rawValue)] != s.rejected[Int(reason.rawValue)] {
            throw InvariantViolation("dead letters for \(reason.name): sink \(sink.byReason[Int(reason.rawValue)]), stats \(s.rejected[Int(reason.rawValue)])")
        }
    }
}

/// What a decoded event must look like, whatever the bytes were.
public enum EventChecks {
    public static func check(_ e: Event, record: UnsafeRawBufferPointer) throws(InvariantViolation) {
        guard e.timestamp >= TimestampParsing.earliest, e.timestamp < TimestampParsing.latest else {
            throw InvariantViolation("event time \(e.timestamp) µs outside the accepted range")
        }
        guard e.userKey != 0, e.user.isPresent, e.user.count > 0 else {
            throw InvariantViolation("event without a user")
        }
        func text(_ name: StaticString, _ span: Span, _ key: UInt64) throws(InvariantViolation) {
            guard span.isPresent else {
                guard key == 0 else { throw InvariantViolation("\(name): absent but keyed") }
                return
            }
            guard span.start >= 0, span.count > 0, Int(span.start) + Int(span.count) <= record.count else {
                throw InvariantViolation("\(name): span \(span.start)+\(span.count) outside the record (\(record.count) bytes)")
            }
            guard key != 0 else { throw InvariantViolation("\(name): present but not keyed") }
            // The text must be readable (dimension names, dead-letter and score records read it).
            _ = TextField.string(span, in: record)
        }
        try text("user_id", e.user, e.userKey)
        try text("event_id", e.eventID, e.eventKey)
        try text("session_id", e.session, e.sessionKey)
        try text("item_id", e.item, e.itemKey)
        try text("category", e.category, e.categoryKey)
        try text("device", e.device, e.deviceKey)
        try text("channel", e.channel, e.channelKey)
        try text("ip", e.ip, e.ipKey)
        try text("user_agent", e.userAgent, e.userAgentKey)
        if e.properties.isPresent {
            guard e.properties.start >= 0, e.properties.count >= 2,
                Int(e.properties.start) + Int(e.properties.count) <= record.count,
                record[Int(e.properties.start)] == UInt8(ascii: "{"),
                record[Int(e.properties.start) + Int(e.properties.count) - 1] == UInt8(ascii: "}")
            else {
                throw InvariantViolation("properties span is not an object inside the record")
            }
        }
        guard e.price.isNaN || (e.price.isFinite && e.price >= 0) else {
            throw InvariantViolation("price \(e.price) is neither absent (NaN) nor a finite number ≥ 0")
        }
        guard e.quantity >= 0, e.quantity <= 1_000_000 else {
            throw InvariantViolation("quantity \(e.quantity) outside 0…1000000")
        }
    }
}

/// Counts what the engine emits and checks each emission.
struct CheckingSink: EngineSink {
    struct Counts { var deadLetters = 0; var accepted = 0 }
    var deadLetters = 0
    var byReason = [Int](repeating: 0, count: DeadLetterReason.allCases.count)
    var lastReason: DeadLetterReason?
    var accepted = 0
    var snapshots = 0
    var scores = 0
    var alerts = 0
    var violation: String?

    var counts: Counts { Counts(deadLetters: deadLetters, accepted: accepted) }

    mutating func fail(_ message: String) { if violation == nil { violation = message } }

    mutating func deadLetter(_ failure: DecodeFailure, record: UnsafeRawBufferPointer, position: SourcePosition) {
        deadLetters += 1
        byReason[Int(failure.reason.rawValue)] += 1
        lastReason = failure.reason
    }

    var observesAccepted: Bool { true }
    mutating func accepted(_ event: Event, context: EventContext, engine: borrowing Engine,
                           record: UnsafeRawBufferPointer, position: SourcePosition) {
        accepted += 1
        do {
            try EventChecks.check(event, record: record)
        } catch {
            fail("accepted event: \(error.message)")
        }
        if context.sincePrevious < 0 { fail("negative time since the previous event") }
        if context.userSlot < 0 { fail("negative user slot") }
    }

    mutating func snapshot(_ snapshot: FunnelSnapshot) {
        snapshots += 1
        if snapshot.windowEnd <= snapshot.windowStart { fail("snapshot window ends before it starts") }
        for s in snapshot.steps where s.entered < 0 || s.converted < 0 || s.dropped < 0 || s.inFlight < 0 {
            fail("snapshot with a negative counter")
        }
    }

    mutating func score(_ score: ModelScore, event: Event, record: UnsafeRawBufferPointer, position: SourcePosition) {
        scores += 1
        let p = score.probability
        if !(p >= 0 && p <= 1) { fail("score \(p) is not a probability") }
    }

    mutating func alert(_ alert: Alert) { alerts += 1 }
}
