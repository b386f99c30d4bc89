/// An ordered conversion funnel: each step is a set of canonical event types.
public struct FunnelSpec: Codable, Sendable, Equatable {
    public struct Step: Codable, Sendable, Equatable {
        public var name: String
        /// Canonical type names; `any` matches every type.
        public var types: [String]

        public init(name: String, types: [String]) {
            self.name = name
            self.types = types
        }

        public var typeSet: EventTypeSet {
            if types.contains("any") { return .all }
            return EventTypeSet(types.compactMap(EventType.init(name:)))
        }
    }

    public var name: String = "default"
    public var steps: [Step] = []
    /// Measured from the user's first step: later steps count only inside it.
    public var conversionWindowSeconds: Int = 1800
    /// Breakdown dimensions (up to 3 of: device, channel, category).
    public var breakdowns: [String] = ["device", "channel", "category"]
    /// Distinct values tracked per breakdown dimension; later values fall into "other".
    public var breakdownCardinality: Int = 32

    public init(name: String, steps: [Step], conversionWindowSeconds: Int = 1800,
                breakdowns: [String] = ["device", "channel", "category"], breakdownCardinality: Int = 32) {
        self.name = name
        self.steps = steps
        self.conversionWindowSeconds = conversionWindowSeconds
        self.breakdowns = breakdowns
        self.breakdownCardinality = breakdownCardinality
    }

    /// visit → product view → add to cart → checkout → purchase.
    public static let `default` = FunnelSpec(
        name: "default",
        steps: [
            Step(name: "visit", types: ["any"]),
            Step(name: "product_view", types: ["view"]),
            Step(name: "add_to_cart", types: ["cart"]),
            Step(name: "checkout", types: ["checkout"]),
            Step(name: "purchase", types: ["purchase"]),
        ])

    enum CodingKeys: String, CodingKey {
        case name, steps, breakdowns
        case conversionWindowSeconds = "conversion_window_seconds"
        case breakdownCardinality = "breakdown_cardinality"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? "default"
        steps = try c.decodeIfPresent([Step].self, forKey: .steps) ?? FunnelSpec.default.steps
        conversionWindowSeconds = try c.decodeIfPresent(Int.self, forKey: .conversionWindowSeconds) ?? 1800
        breakdowns = try c.decodeIfPresent([String].self, forKey: .breakdowns) ?? ["device", "channel", "category"]
        breakdownCardinality = try c.decodeIfPresent(Int.self, forKey: .breakdownCardinality) ?? 32
    }

    public static let knownBreakdowns = ["device", "channel", "category"]

    public func validate(path: String) throws(ConfigError) {
        guard !name.isEmpty else { throw ConfigError(key: "\(path).name", message: "must not be empty") }
        guard steps.count >= 2, steps.count <= 16 else {
            throw ConfigError(key: "\(path).steps", message: "a funnel needs 2 to 16 steps")
        }
        for (i, step) in steps.enumerated() {
            guard !step.types.isEmpty else {
                throw ConfigError(key: "\(path).steps[\(i)].types", message: "needs at least one type")
            }
            for t in step.types where t != "any" && EventType(name: t) == nil {
                let known = EventType.allCases.map(\.name).joined(separator: ", ")
                throw ConfigError(key: "\(path).steps[\(i)].types", message: "unknown type '\(t)' (known: any, \(known))")
            }
        }
        guard conversionWindowSeconds > 0, conversionWindowSeconds <= 30 * 86_400 else {
            throw ConfigError(key: "\(path).conversion_window_seconds", message: "must be 1 s to 30 days")
        }
        guard breakdowns.count <= 3 else {
            throw ConfigError(key: "\(path).breakdowns", message: "at most 3 breakdown dimensions")
        }
        for b in breakdowns where !Self.knownBreakdowns.contains(b) {
            throw ConfigError(key: "\(path).breakdowns", message: "unknown dimension '\(b)' (known: device, channel, category)")
        }
        guard breakdownCardinality >= 1, breakdownCardinality <= 250 else {
            throw ConfigError(key: "\(path).breakdown_cardinality", message: "must be 1 to 250")
        }
    }
}
