/// A scripted anomaly injected into the simulated stream, active in the event-time range
/// [start, end) (epoch milliseconds, the same clock as the events' `ts`).
///
/// Incidents exist so detectors and dashboards can be tested against known ground truth: each
/// one is reported back, with the entities it affected, in ``SimulatorTruth``. Every incident
/// keeps `truth.p` exact, because each is defined so the generative process stays tractable:
/// - `conversionDrop` is applied per session, by the session's start time, device and channel,
///   so a session's rates never change mid-way.
/// - `trackingBreak` removes events after generation; the process (and `truth.p`) is unchanged,
///   which is precisely what makes the stream lie about conversion.
/// - `bots` never purchase (p = 0); `cardTesting` follows fixed timing so p has a closed form;
///   `sharedDevice` accounts follow the ordinary funnel process.
///
/// JSON/YAML form is flat with a `kind` discriminator, e.g.
/// `{"kind":"conversion_drop","step":"purchase","fraction":0.5,"device":"mobile","start":…,"end":…}`.
public enum Incident: Sendable, Codable, Equatable {
    /// Sessions starting in range (optionally only on `device` / `channel`) convert to `step`
    /// (cart, checkout or purchase) `fraction` less often: the advance rate into the step is
    /// multiplied by (1 − fraction) and the removed rate goes to leaving, so the time spent in
    /// the stage is unchanged and the step's conversion is exactly (1 − fraction) times normal.
    case conversionDrop(step: EventType, fraction: Double, device: String?, channel: String?, start: Int64, end: Int64)
    /// Events of `type` with a timestamp in range are not emitted (broken tracking).
    case trackingBreak(type: EventType, start: Int64, end: Int64)
    /// `count` crawler users clicking (page/view/search) at `ratePerSecond` each, with
    /// inter-event gaps within ±2 % of 1/rate, from one datacenter-like ip each and a bot agent.
    case bots(count: Int, ratePerSecond: Double, start: Int64, end: Int64)
    /// `users` fresh accounts that, with no prior views, each run one burst of `attemptsPerUser`
    /// checkouts at a fixed per-user interval (3–12 s); each attempt is approved with
    /// probability `approvalRate` and then followed 1 s later by a purchase.
    case cardTesting(users: Int, attemptsPerUser: Int, approvalRate: Double, start: Int64, end: Int64)
    /// `accounts` fresh accounts, each with one ordinary shopping session starting in range,
    /// all from the same ip and user agent (one physical device).
    case sharedDevice(accounts: Int, start: Int64, end: Int64)

    /// Stable snake_case name, used as the `kind` field and in the ground truth.
    public var kind: String {
        switch self {
        case .conversionDrop: "conversion_drop"
        case .trackingBreak: "tracking_break"
        case .bots: "bots"
        case .cardTesting: "card_testing"
        case .sharedDevice: "shared_device"
        }
    }

    /// The event-time range [start, end) in epoch milliseconds.
    public var range: (start: Int64, end: Int64) {
        switch self {
        case let .conversionDrop(_, _, _, _, start, end),
            let .trackingBreak(_, start, end),
            let .bots(_, _, start, end),
            let .cardTesting(_, _, _, start, end),
            let .sharedDevice(_, start, end):
            (start, end)
        }
    }

    private enum CodingKeys: String, CodingKey {
        case kind, step, fraction, device, channel, type, count, ratePerSecond = "rate_per_second"
        case users, attemptsPerUser = "attempts_per_user", approvalRate = "approval_rate", accounts
        case start, end
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try c.decode(String.self, forKey: .kind)
        let start = try c.decode(Int64.self, forKey: .start)
        let end = try c.decode(Int64.self, forKey: .end)
        switch kind {
        case "conversion_drop":
            self = .conversionDrop(
                step: try c.decode(EventType.self, forKey: .step),
                fraction: try c.decode(Double.self, forKey: .fraction),
                device: try c.decodeIfPresent(String.self, forKey: .device),
                channel: try c.decodeIfPresent(String.self, forKey: .channel), start: start, end: end)
        case "tracking_break":
            self = .trackingBreak(type: try c.decode(EventType.self, forKey: .type), start: start, end: end)
        case "bots":
            self = .bots(
                count: try c.decodeIfPresent(Int.self, forKey: .count) ?? 5,
                ratePerSecond: try c.decodeIfPresent(Double.self, forKey: .ratePerSecond) ?? 2,
                start: start, end: end)
        case "card_testing":
            self = .cardTesting(
                users: try c.decodeIfPresent(Int.self, forKey: .users) ?? 3,
                attemptsPerUser: try c.decodeIfPresent(Int.self, forKey: .attemptsPerUser) ?? 30,
                approvalRate: try c.decodeIfPresent(Double.self, forKey: .approvalRate) ?? 0.2,
                start: start, end: end)
        case "shared_device":
            self = .sharedDevice(
                accounts: try c.decodeIfPresent(Int.self, forKey: .accounts) ?? 40, start: start, end: end)
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: c, debugDescription: "unknown incident kind '\(kind)'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        switch self {
        case let .conversionDrop(step, fraction, device, channel, _, _):
            try c.encode(step, forKey: .step)
            try c.encode(fraction, forKey: .fraction)
            try c.encodeIfPresent(device, forKey: .device)
            try c.encodeIfPresent(channel, forKey: .channel)
        case let .trackingBreak(type, _, _):
            try c.encode(type, forKey: .type)
        case let .bots(count, rate, _, _):
            try c.encode(count, forKey: .count)
            try c.encode(rate, forKey: .ratePerSecond)
        case let .cardTesting(users, attempts, approval, _, _):
            try c.encode(users, forKey: .users)
            try c.encode(attempts, forKey: .attemptsPerUser)
            try c.encode(approval, forKey: .approvalRate)
        case let .sharedDevice(accounts, _, _):
            try c.encode(accounts, forKey: .accounts)
        }
        let r = range
        try c.encode(r.start, forKey: .start)
        try c.encode(r.end, forKey: .end)
    }
}

extension Incident {
    /// The same incident `milliseconds` later (a simulator round that continues the previous one).
    public func shifted(by milliseconds: Int64) -> Incident {
        let m = milliseconds
        switch self {
        case let .conversionDrop(step, fraction, device, channel, start, end):
            return .conversionDrop(step: step, fraction: fraction, device: device, channel: channel,
                                   start: start + m, end: end + m)
        case let .trackingBreak(type, start, end): return .trackingBreak(type: type, start: start + m, end: end + m)
        case let .bots(count, rate, start, end): return .bots(count: count, ratePerSecond: rate, start: start + m, end: end + m)
        case let .cardTesting(users, attempts, approval, start, end):
            return .cardTesting(users: users, attemptsPerUser: attempts, approvalRate: approval, start: start + m, end: end + m)
        case let .sharedDevice(accounts, start, end): return .sharedDevice(accounts: accounts, start: start + m, end: end + m)
        }
    }
}
