/// The JSON shape of one live score (`scores.jsonl`, schemas/score.schema.json).
public enum ScoreRecord {
    public static let schema = "funnelpulse.score.v1"

    /// Encodes `score` for `event`; text fields are copied from `record`. `featureNames` and
    /// `stepNames` are ``FeatureExtractor/names`` and ``ProgressiveQuality/stepNames``.
    /// Event time is written as integer milliseconds only: no date formatting on the hot path.
    /// `pseudonymizedUser`, when given, is written as `user` instead of the record's user id
    /// (``UserPseudonymizer``, `privacy.pseudonymize_user_ids`).
    public static func encode(_ score: ModelScore, event: Event, record: UnsafeRawBufferPointer,
                              featureNames names: [String], stepNames steps: [String],
                              pseudonymizedUser: UnsafeRawBufferPointer? = nil,
                              into out: inout JSONBuffer) {
        out.beginObject()
        out.key("schema"); out.string(schema)
        out.key("seq"); out.int(score.seq)
        out.key("event_id")
        if event.eventID.isPresent { out.string(event.eventID, in: record) } else { out.null() }
        out.key("user")
        if let pseudonymizedUser { out.bytesAsString(pseudonymizedUser) } else { out.string(event.user, in: record) }
        out.key("event_time_ms"); out.int(event.timestamp / 1000)
        out.key("score"); out.double(score.probability, decimals: 7)
        out.key("model_version"); out.int(score.version)
        out.key("step")
        if score.step < steps.count { out.string(steps[score.step]) } else { out.null() }
        out.key("top")
        out.beginArray()
        for k in 0..<score.prediction.topCount {
            let id = Int(score.prediction.topNames[k])
            out.beginObject()
            out.key("feature"); out.string(id < names.count ? names[id] : "?")
            out.key("contribution"); out.double(score.prediction.topContributions[k], decimals: 5)
            out.endObject()
        }
        out.endArray()
        out.endObject()
    }
}
