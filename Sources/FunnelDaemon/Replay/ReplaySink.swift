import FunnelCore

/// Writes what the engine produces during a replay to `DIR/*.jsonl`.
struct ReplaySink: EngineSink {
    let funnel: FileOutput
    let deadLetters: FileOutput
    let sourceNames: [String]
    /// `scores.jsonl` and the name tables its records use (nil: the model is off).
    var scores: FileOutput? = nil
    var scoreNames = ScoreRecord.Names()
    /// Pseudonyms instead of user ids in `scores.jsonl` (nil: raw ids).
    var pseudonymizer: UserPseudonymizer? = nil
    var buffer = JSONBuffer(capacity: 4096)
    var writeError: (any Error)?
    var snapshots = 0
    /// `alerts.jsonl` (nil: alerting is off) and what went into it.
    var alerts: FileOutput? = nil
    var alertCounts = AlertCounts()

    mutating func deadLetter(_ failure: DecodeFailure, record: UnsafeRawBufferPointer, position: SourcePosition) {
        buffer.reset()
        let name = Int(position.source) < sourceNames.count ? sourceNames[Int(position.source)] : "?"
        OutputRecords.encodeDeadLetter(failure, record: record, source: .file(name, line: position.offset),
                                       into: &buffer)
        write(deadLetters)
    }

    mutating func score(_ score: ModelScore, event: Event, record: UnsafeRawBufferPointer, position: SourcePosition) {
        guard let scores else { return }
        buffer.reset()
        if let pseudonymizer {
            pseudonymizer.withPseudonym(of: event.user, in: record) { pseudonym in
                ScoreRecord.encode(score, event: event, record: record, names: scoreNames,
                                   pseudonymizedUser: pseudonym, into: &buffer)
            }
        } else {
            ScoreRecord.encode(score, event: event, record: record, names: scoreNames, into: &buffer)
        }
        write(scores)
    }

    mutating func snapshot(_ snapshot: FunnelSnapshot) {
        buffer.reset()
        OutputRecords.encode(snapshot, into: &buffer)
        snapshots += 1
        write(funnel)
    }

    mutating func alert(_ alert: Alert) {
        alertCounts.add(alert)
        guard let alerts else { return }
        buffer.reset()
        AlertRecord.encode(alert, into: &buffer)
        write(alerts)
    }

    private mutating func write(_ output: FileOutput) {
        guard writeError == nil else { return }
        do {
            try output.writeLine(buffer.bytes)
        } catch {
            writeError = error
        }
    }
}
