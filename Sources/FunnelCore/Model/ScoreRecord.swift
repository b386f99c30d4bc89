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
        // One reservation for the whole record: the fixed text and numbers take under 400 bytes,
        // and the strings are bounded by their lengths.
        let userLength = pseudonymizedUser?.count ?? Int(max(0, event.user.count))
        let estimate = 400 &+ JSONRawWriter.stringBound(Int(max(0, event.eventID.count)))
            &+ JSONRawWriter.stringBound(userLength) &+ names.steps.longest &+ 3 &* names.features.longest
        out.value(estimate: estimate) { w in
            w.fragment(#"{"schema":"funnelpulse.score.v1","seq":"#)
            w.int(score.seq)
            w.fragment(#","event_id":"#)
            if event.eventID.isPresent { w.string(event.eventID, in: record) } else { w.fragment("null") }
            w.fragment(#","user":"#)
            if let pseudonymizedUser { w.string(pseudonymizedUser) } else { w.string(event.user, in: record) }
            w.fragment(#","event_time_ms":"#)
            w.int(event.timestamp / 1000)
            w.fragment(#","score":"#)
            number(score.probability, decimals: 7, into: &w)
            w.fragment(#","model_version":"#)
            w.int(Int64(truncatingIfNeeded: score.version))
            w.fragment(#","step":"#)
            names.steps.write(score.step, into: &w)
            w.fragment(#","top":["#)
            for k in 0..<score.prediction.topCount {
                w.fragment(k == 0 ? #"{"feature":"# : #",{"feature":"#)
                let id = Int(score.prediction.topNames[k])
                if id < names.features.count { names.features.write(id, into: &w) } else { w.fragment(#""?""#) }
                w.fragment(#","contribution":"#)
                number(score.prediction.topContributions[k], decimals: 5, into: &w)
                w.byte(UInt8(ascii: "}"))
            }
            w.fragment("]}")
        }
    }

    /// A score or contribution: never outside what ``JSONRawWriter/double(_:decimals:)`` spells,
    /// but a non-finite one is written as null, as ``JSONBuffer/double(_:decimals:)`` would.
    @inline(__always)
    private static func number(_ value: Double, decimals: Int, into w: inout JSONRawWriter) {
        if !w.double(value, decimals: decimals) { w.fragment("null") }
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
            longest = max(longest, buffer.bytes.count)
        }
    }

    var count: Int { ends.count }
    /// The longest encoding, for reservations.
    private(set) var longest = 4

    /// String `i` as a JSON value, or null when there is no such string.
    func write(_ i: Int, into out: inout JSONBuffer) {
        out.value(estimate: longest) { write(i, into: &$0) }
    }

    /// String `i` as a JSON value, or null when there is no such string.
    func write(_ i: Int, into w: inout JSONRawWriter) {
        guard i >= 0, i < ends.count else {
            w.fragment("null")
            return
        }
        let start = i == 0 ? 0 : ends[i - 1]
        pool.withUnsafeBytes { w.bytes(UnsafeRawBufferPointer(rebasing: $0[start..<ends[i]])) }
    }
}
