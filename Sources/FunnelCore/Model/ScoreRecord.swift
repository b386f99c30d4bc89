/// The JSON shape of one live score (`scores.jsonl`, schemas/score.schema.json).
public enum ScoreRecord {
    /// Also spelled inside the literal that opens every record in ``encode``.
    public static let schema = "funnelpulse.score.v1"

    /// The feature and step names a score record may carry, encoded as JSON strings once (not
    /// escaped again for every score): ``FeatureExtractor/names`` and
    /// ``ProgressiveQuality/stepNames``.
    public struct Names: Sendable {
        var features = EncodedStrings()
        var steps = EncodedStrings()

        public init() {}

        public init(features: [String], steps: [String]) {
            self.features = EncodedStrings(features)
            self.steps = EncodedStrings(steps)
        }
    }

    /// Encodes `score` for `event`; text fields are copied from `record`. Event time is written
    /// as integer milliseconds only: no date formatting on the hot path. `pseudonymizedUser`,
    /// when given, is written as `user` instead of the record's user id (``UserPseudonymizer``,
    /// `privacy.pseudonymize_user_ids`).
    public static func encode(_ score: ModelScore, event: Event, record: UnsafeRawBufferPointer, names: Names,
                              pseudonymizedUser: UnsafeRawBufferPointer? = nil,
                              into out: inout JSONBuffer) {
        out.beginObject()
        out.fragment(#""schema":"funnelpulse.score.v1","seq":"#)
        out.int(score.seq)
        out.fragment(#","event_id":"#)
        if event.eventID.isPresent { out.string(event.eventID, in: record) } else { out.null() }
        out.fragment(#","user":"#)
        if let pseudonymizedUser { out.bytesAsString(pseudonymizedUser) } else { out.string(event.user, in: record) }
        out.fragment(#","event_time_ms":"#)
        out.int(event.timestamp / 1000)
        out.fragment(#","score":"#)
        out.double(score.probability, decimals: 7)
        out.fragment(#","model_version":"#)
        out.int(score.version)
        out.fragment(#","step":"#)
        names.steps.write(score.step, into: &out)
        out.fragment(#","top":["#)
        for k in 0..<score.prediction.topCount {
            let id = Int(score.prediction.topNames[k])
            out.fragment(k == 0 ? #"{"feature":"# : #",{"feature":"#)
            if id < names.features.count { names.features.write(id, into: &out) } else { out.string("?") }
            out.fragment(#","contribution":"#)
            out.double(score.prediction.topContributions[k], decimals: 5)
            out.endObject()
        }
        out.endArray()
        out.endObject()
    }
}

/// Strings held as their JSON encodings (quoted, escaped) in one byte pool.
struct EncodedStrings: Sendable {
    private var pool: [UInt8] = []
    private var ends: [Int] = []

    init() {}

    init(_ strings: [String]) {
        var buffer = JSONBuffer(capacity: 64)
        for string in strings {
            buffer.reset()
            buffer.string(string)
            pool += buffer.bytes
            ends.append(pool.count)
        }
    }

    var count: Int { ends.count }

    /// String `i` as a JSON value, or null when there is no such string.
    func write(_ i: Int, into out: inout JSONBuffer) {
        guard i >= 0, i < ends.count else {
            out.null()
            return
        }
        let start = i == 0 ? 0 : ends[i - 1]
        pool.withUnsafeBytes { out.encoded(UnsafeRawBufferPointer(rebasing: $0[start..<ends[i]])) }
    }
}
