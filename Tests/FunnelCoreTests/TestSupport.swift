import FunnelCore

/// Collects everything an engine emits, for assertions.
struct CollectingSink: EngineSink {
    var deadLetters: [(reason: DeadLetterReason, position: SourcePosition)] = []
    var accepted: [(userKey: UInt64, type: EventType, time: Int64, context: EventContext)] = []
    var snapshots: [FunnelSnapshot] = []
    var alerts: [Alert] = []

    mutating func deadLetter(_ failure: DecodeFailure, record: UnsafeRawBufferPointer, position: SourcePosition) {
        deadLetters.append((failure.reason, position))
    }

    var observesAccepted: Bool { true }
    mutating func accepted(_ event: Event, context: EventContext, engine: borrowing Engine,
                           record: UnsafeRawBufferPointer, position: SourcePosition) {
        accepted.append((event.userKey, event.type, event.timestamp, context))
    }

    mutating func snapshot(_ snapshot: FunnelSnapshot) { snapshots.append(snapshot) }

    mutating func alert(_ alert: Alert) { alerts.append(alert) }
}

/// Decodes one record with a mapping; `nil` event means rejected (reason returned).
func decode(_ text: String, _ mapping: CompiledMapping) -> (event: Event?, failure: DecodeFailure?) {
    var decoder = RecordDecoder(mapping: mapping)
    var bytes = Array(text.utf8)
    if bytes.isEmpty { bytes = [] }
    let outcome = bytes.withUnsafeBytes { decoder.decode($0) }
    switch outcome {
    case .event(let e): return (e, nil)
    case .rejected(let f): return (nil, f)
    case .skipped: return (nil, nil)
    }
}

func key(_ s: String) -> UInt64 {
    let h = StableHash.hash(s)
    return h == 0 ? 1 : h
}

/// A JSON event line in the project's own format.
func jsonEvent(_ user: String, _ type: String, _ seconds: Double, id: String? = nil, item: String? = nil,
               device: String? = nil, extra: String = "") -> String {
    var parts = ["\"user_id\":\"\(user)\"", "\"type\":\"\(type)\"", "\"ts\":\(Int64(seconds * 1000))"]
    if let id { parts.append("\"event_id\":\"\(id)\"") }
    if let item { parts.append("\"item_id\":\"\(item)\"") }
    if let device { parts.append("\"device\":\"\(device)\"") }
    if !extra.isEmpty { parts.append(extra) }
    return "{" + parts.joined(separator: ",") + "}"
}

/// Feeds lines through an engine with the canonical JSON mapping.
func run(_ lines: [String], config: EngineConfig = EngineConfig(), finish: Bool = true) throws -> (Engine, CollectingSink) {
    var engine = try Engine(config: config)
    var decoder = RecordDecoder(mapping: try CompiledMapping(.canonicalJSON))
    var sink = CollectingSink()
    for (i, line) in lines.enumerated() {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        bytes.withUnsafeBytes {
            engine.process($0, decoder: &decoder, at: SourcePosition(source: 0, offset: Int64(i + 1)), sink: &sink)
        }
    }
    if finish { engine.finish(sink: &sink) }
    return (engine, sink)
}

let base: Double = 1_700_000_000  // 2023-11-14T22:13:20Z
