import FunnelCore
import FunnelKafka

/// Publishes what the engine produces while one input record is processed, so every output is
/// attributed (in the ``OutputLedger``) to the input that caused it.
///
/// Records go out immediately, one encode buffer reused for all of them: dead letters to the
/// dead-letter topic (no key), funnel snapshots keyed by funnel name, scores keyed by user id
/// (its pseudonym with `privacy.pseudonymize_user_ids`), alerts keyed by alert id (funnel
/// alerts) or entity (fraud alerts, signals).
/// Each carries `schema` and `model-version` headers (``OutputPublisher``) so consumers can route
/// without parsing.
struct KafkaOutputSink: EngineSink {
    let publisher: OutputPublisher
    /// ``FeatureExtractor/names`` and the quality step names, for score records.
    let scoreNames: ScoreRecord.Names
    /// Pseudonyms instead of user ids in score records and their key (nil: raw ids).
    let pseudonymizer: UserPseudonymizer?
    private var buffer = JSONBuffer(capacity: 4096)
    private var modelVersion: UInt64 = 0
    /// Alerts published so far, by kind and state (for /metrics).
    private(set) var alertCounts = AlertCounts()

    init(publisher: OutputPublisher, featureNames: [String], stepNames: [String],
         pseudonymizer: UserPseudonymizer? = nil) {
        self.publisher = publisher
        scoreNames = ScoreRecord.Names(features: featureNames, steps: stepNames)
        self.pseudonymizer = pseudonymizer
    }

    mutating func deadLetter(_ failure: DecodeFailure, record: UnsafeRawBufferPointer, position: SourcePosition) {
        let slot = Int(position.source)
        let partitions = publisher.ledger.partitions
        let source: OutputRecords.SourceName
        if slot >= 0, slot < partitions.count {
            let topicPartition = partitions[slot].topicPartition
            source = .kafka(topic: topicPartition.topic, partition: topicPartition.partition, offset: position.offset)
        } else {
            source = .kafka(topic: "", partition: -1, offset: position.offset)
        }
        buffer.reset()
        OutputRecords.encodeDeadLetter(failure, record: record, source: source, into: &buffer)
        publish(.deadLetter, key: nil)
    }

    mutating func snapshot(_ snapshot: FunnelSnapshot) {
        buffer.reset()
        OutputRecords.encode(snapshot, into: &buffer)
        var name = snapshot.funnel
        name.withUTF8 { publish(.funnel, key: UnsafeRawBufferPointer($0)) }
    }

    mutating func score(_ score: ModelScore, event: Event, record: UnsafeRawBufferPointer, position: SourcePosition) {
        modelVersion = score.version
        buffer.reset()
        if let pseudonymizer {
            // One HMAC per score, digest and hex on the stack: used for the record and its key.
            pseudonymizer.withPseudonym(of: event.user, in: record) { pseudonym in
                ScoreRecord.encode(score, event: event, record: record, names: scoreNames,
                                   pseudonymizedUser: pseudonym, into: &buffer)
                publish(.scores, key: pseudonym)
            }
            return
        }
        ScoreRecord.encode(score, event: event, record: record, names: scoreNames, into: &buffer)
        let user = event.user
        if user.isPresent, user.encoding == .plain, user.range.upperBound <= record.count {
            publish(.scores, key: UnsafeRawBufferPointer(rebasing: record[user.range]))
        } else {
            // Escaped user ids are rare; unescaping allocates.
            var text = TextField.string(user, in: record)
            text.withUTF8 { publish(.scores, key: UnsafeRawBufferPointer($0)) }
        }
    }

    mutating func alert(_ alert: Alert) {
        alertCounts.add(alert)
        buffer.reset()
        AlertRecord.encode(alert, into: &buffer)
        var key = AlertRecord.key(alert)
        key.withUTF8 { publish(.alerts, key: UnsafeRawBufferPointer($0)) }
    }

    private mutating func publish(_ kind: OutputPublisher.Kind, key: UnsafeRawBufferPointer?) {
        publisher.publish(kind, key: key, value: buffer.bytes, modelVersion: modelVersion)
    }
}
