import Foundation

/// The parts of a published funnel snapshot (`funnelpulse.funnel_snapshot.v1`) the demo view shows.
///
/// The view decodes what the daemon *published* on the funnel topic rather than reading engine
/// state, so the screen is an end-to-end check of the output format as well as of the numbers.
/// Breakdowns and time-to-convert are not decoded: the view has no room for them.
struct DemoFunnelSnapshot: Decodable, Sendable, Equatable {
    struct Step: Decodable, Sendable, Equatable {
        var step: String
        var entered: Int64
        var converted: Int64
        var dropped: Int64
        var inFlight: Int64
        var conversionRate: Double?

        enum CodingKeys: String, CodingKey {
            case step, entered, converted, dropped
            case inFlight = "in_flight"
            case conversionRate = "conversion_rate"
        }
    }

    struct Rolling: Decodable, Sendable, Equatable {
        var windowSeconds: Int
        var overallConversionRate: Double?

        enum CodingKeys: String, CodingKey {
            case windowSeconds = "window_seconds"
            case overallConversionRate = "overall_conversion_rate"
        }
    }

    var funnel: String
    var windowStart: String
    var windowEnd: String
    var watermarkMilliseconds: Int64
    var partial: Bool
    var overallConversionRate: Double?
    var steps: [Step]
    var rolling: [Rolling]

    enum CodingKeys: String, CodingKey {
        case funnel, partial, steps, rolling
        case windowStart = "window_start"
        case windowEnd = "window_end"
        case watermarkMilliseconds = "watermark_ms"
        case overallConversionRate = "overall_conversion_rate"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        funnel = try c.decode(String.self, forKey: .funnel)
        windowStart = try c.decode(String.self, forKey: .windowStart)
        windowEnd = try c.decode(String.self, forKey: .windowEnd)
        watermarkMilliseconds = try c.decode(Int64.self, forKey: .watermarkMilliseconds)
        partial = try c.decodeIfPresent(Bool.self, forKey: .partial) ?? false
        overallConversionRate = try c.decodeIfPresent(Double.self, forKey: .overallConversionRate)
        steps = try c.decode([Step].self, forKey: .steps)
        rolling = try c.decodeIfPresent([Rolling].self, forKey: .rolling) ?? []
    }

    /// Decodes one record value from the funnel topic.
    /// - Throws: `DecodingError` when the bytes are not a funnel snapshot.
    static func decode(_ bytes: [UInt8]) throws -> DemoFunnelSnapshot {
        try JSONDecoder().decode(DemoFunnelSnapshot.self, from: Data(bytes))
    }
}

/// The fields of a score record (`funnelpulse.score.v1`) the demo aggregates.
struct DemoScore: Decodable, Sendable {
    var score: Double
    var modelVersion: Int64?

    enum CodingKeys: String, CodingKey {
        case score
        case modelVersion = "model_version"
    }
}

/// The fields of an alert record the demo board shows.
struct DemoAlert: Decodable, Sendable {
    var kind: String
    var state: String
    var severity: String
    var message: String

    /// One board line: `critical firing funnel_drop: <message>`.
    var line: String { "\(severity) \(state) \(kind): \(message)" }
}
