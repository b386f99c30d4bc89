/// Counters of one funnel step over a window.
public struct FunnelStepStats: Sendable, Equatable {
    /// Attempts that reached this step in the window.
    public var entered: Int64 = 0
    /// Attempts that went on from this step to the next in the window.
    public var converted: Int64 = 0
    /// Attempts whose conversion window expired at this step in the window.
    public var dropped: Int64 = 0
    /// Attempts at this step whose conversion window is still open (a gauge at window end).
    public var inFlight: Int64 = 0

    public init(entered: Int64 = 0, converted: Int64 = 0, dropped: Int64 = 0, inFlight: Int64 = 0) {
        self.entered = entered
        self.converted = converted
        self.dropped = dropped
        self.inFlight = inFlight
    }

    /// converted / (converted + dropped): only resolved attempts count, in-flight ones never as drops.
    public var conversionRate: Double? {
        let resolved = converted + dropped
        return resolved > 0 ? Double(converted) / Double(resolved) : nil
    }

    public var isZero: Bool { entered == 0 && converted == 0 && dropped == 0 && inFlight == 0 }
}

/// Time-to-convert percentiles of one step (seconds).
public struct TimeToConvert: Sendable, Equatable {
    public var count: Int
    public var p50: Double
    public var p90: Double
    public var p99: Double
}

/// One funnel's state when a tumbling window closes on the watermark.
public struct FunnelSnapshot: Sendable {
    public struct Rolling: Sendable {
        public var seconds: Int
        public var steps: [FunnelStepStats]
        public var timeToConvert: [TimeToConvert?]
    }

    public struct BreakdownValue: Sendable {
        public var name: String
        public var steps: [FunnelStepStats]

        public init(name: String, steps: [FunnelStepStats]) {
            self.name = name
            self.steps = steps
        }
    }

    public struct Breakdown: Sendable {
        public var dimension: String
        public var values: [BreakdownValue]

        public init(dimension: String, values: [BreakdownValue]) {
            self.dimension = dimension
            self.values = values
        }
    }

    public var funnel: String
    public var stepNames: [String]
    /// [start, end) in µs since the Unix epoch.
    public var windowStart: Int64
    public var windowEnd: Int64
    public var watermark: Int64
    /// The last, unfinished window emitted at the end of a bounded input.
    public var partial: Bool
    public var steps: [FunnelStepStats]
    public var timeToConvert: [TimeToConvert?]
    public var rolling: [Rolling]
    public var breakdowns: [Breakdown]

    public init(funnel: String, stepNames: [String], windowStart: Int64, windowEnd: Int64, watermark: Int64,
                partial: Bool, steps: [FunnelStepStats], timeToConvert: [TimeToConvert?] = [], rolling: [Rolling] = [],
                breakdowns: [Breakdown] = []) {
        self.funnel = funnel
        self.stepNames = stepNames
        self.windowStart = windowStart
        self.windowEnd = windowEnd
        self.watermark = watermark
        self.partial = partial
        self.steps = steps
        self.timeToConvert = timeToConvert
        self.rolling = rolling
        self.breakdowns = breakdowns
    }

    /// Completed attempts / attempts resolved (completed or dropped at any step) in the window.
    public static func overallRate(_ steps: [FunnelStepStats]) -> Double? {
        guard steps.count >= 2 else { return nil }
        let completed = steps[steps.count - 2].converted
        let dropped = steps.reduce(Int64(0)) { $0 + $1.dropped }
        let resolved = completed + dropped
        return resolved > 0 ? Double(completed) / Double(resolved) : nil
    }
}
