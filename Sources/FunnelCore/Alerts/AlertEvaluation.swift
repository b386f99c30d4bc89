/// Scores alerts against a simulated stream's ground truth (`funnelpulse-bench alerts`, tests).
///
/// Matching rules, documented in docs/alerts.md:
/// - A `conversion_drop` is detected by a firing `funnel_drop` for its step, on all traffic or on
///   its device/channel value, between its start and its end plus one long window; the delay is
///   from the start to the first such alert.
/// - A `tracking_break` of type T is detected by a firing `volume_drop` or `funnel_drop` for the
///   funnel step made of T.
/// - A firing funnel-family alert is a true positive when it falls in an incident's range (plus
///   one long window) and names that incident's step (any step for a tracking break, whose
///   missing events distort every later step); otherwise it is a false alarm.
/// - Fraud alerts name an entity: a user, an ip or an ip|user-agent device. An alert is a true
///   positive when the entity belongs to an injected actor (bot, card tester, shared-device account,
///   or their ip). Recall per incident is the share of its users alerted by any fraud rule; a
///   shared-device incident counts its ip as the entity.
public struct AlertEvaluation: Sendable {
    public struct IncidentResult: Sendable {
        public var kind: String
        public var label: String
        public var start: Int64
        public var end: Int64
        /// Seconds from the incident's start to its first matching alert.
        public var delaySeconds: Double?
        public var entities: Int
        public var entitiesAlerted: Int
        public var recall: Double? { entities > 0 ? Double(entitiesAlerted) / Double(entities) : nil }
    }

    public struct KindResult: Sendable {
        public var kind: AlertKind
        public var firing: Int
        public var truePositives: Int
        public var precision: Double? { firing > 0 ? Double(truePositives) / Double(firing) : nil }
    }

    public var incidents: [IncidentResult] = []
    public var kinds: [KindResult] = []
    /// Firing funnel-family alerts that match no incident, and their ids with event time (ms).
    public var falseFunnelAlerts = 0
    public var falseFunnelAlertIDs: [(id: String, timeMs: Int64)] = []
    /// Fraud alerts on entities that belong to no incident.
    public var falseFraudAlerts = 0
    public var signals = 0

    public init(alerts: [Alert], truth: SimulatorTruth, funnel: FunnelSpec, longWindowSeconds: Int) {
        let grace = Int64(longWindowSeconds) * 1_000_000
        func stepName(of type: String?) -> String? {
            guard let type else { return nil }
            return funnel.steps.first(where: { $0.types.contains(type) })?.name
        }
        var badUsers = Set<String>()
        var badIPs = Set<String>()
        for entry in truth.incidents where entry.kind != "conversion_drop" {
            badUsers.formUnion(entry.users)
            badIPs.formUnion(entry.ips)
            if let ip = entry.ip { badIPs.insert(ip) }
        }
        func isBadEntity(_ alert: Alert) -> Bool {
            switch alert.entityType {
            case "user": return badUsers.contains(alert.entity)
            case "ip": return badIPs.contains(alert.entity)
            case "device":
                let ip = alert.entity.split(separator: "|", maxSplits: 1).first.map(String.init) ?? alert.entity
                return badIPs.contains(ip)
            default: return false
            }
        }
        func funnelMatch(_ alert: Alert, _ entry: SimulatorTruth.Entry) -> Bool {
            let t = alert.time / 1000
            guard alert.state == .firing, alert.kind.family == .funnel,
                t >= entry.start, t <= entry.end + grace / 1000
            else { return false }
            switch entry.kind {
            case "conversion_drop":
                guard alert.kind == .funnelDrop, alert.step == stepName(of: entry.eventType) else { return false }
                guard let dimension = alert.dimension else { return true }
                if let device = entry.device { return dimension == "device" && alert.value == device }
                if let channel = entry.channel { return dimension == "channel" && alert.value == channel }
                return false
            case "tracking_break":
                return (alert.kind == .volumeDrop || alert.kind == .funnelDrop) && alert.step == stepName(of: entry.eventType)
            default:
                return false
            }
        }
        func relatedToIncident(_ alert: Alert) -> Bool {
            let t = alert.time / 1000
            return truth.incidents.contains { entry in
                guard t >= entry.start, t <= entry.end + grace / 1000 else { return false }
                switch entry.kind {
                case "tracking_break": return alert.kind != .streamStalled
                case "conversion_drop": return alert.kind == .funnelDrop && alert.step == stepName(of: entry.eventType)
                default: return false
                }
            }
        }

        for entry in truth.incidents {
            var result = IncidentResult(kind: entry.kind, label: Self.label(entry), start: entry.start, end: entry.end,
                                        delaySeconds: nil, entities: 0, entitiesAlerted: 0)
            switch entry.kind {
            case "conversion_drop", "tracking_break":
                if let first = alerts.first(where: { funnelMatch($0, entry) }) {
                    result.delaySeconds = Double(first.time / 1000 - entry.start) / 1000
                }
            default:
                let fraud = alerts.filter { $0.kind.family == .fraud }
                if entry.kind == "shared_device" {
                    let ips = Set(entry.ip.map { [$0] } ?? [])
                    result.entities = 1
                    let hit = fraud.first { a in
                        (a.entityType == "ip" && ips.contains(a.entity))
                            || (a.entityType == "device" && ips.contains(where: { a.entity.hasPrefix($0 + "|") }))
                            || (a.entityType == "user" && entry.users.contains(a.entity))
                    }
                    if let hit {
                        result.entitiesAlerted = 1
                        result.delaySeconds = Double(hit.time / 1000 - entry.start) / 1000
                    }
                } else {
                    let users = Set(entry.users)
                    var alerted = Set<String>()
                    var first: Int64?
                    for a in fraud where a.entityType == "user" && users.contains(a.entity) {
                        alerted.insert(a.entity)
                        first = min(first ?? a.time, a.time)
                    }
                    // An actor's own ip, alerted, also identifies it.
                    for (i, ip) in entry.ips.enumerated() where i < entry.users.count {
                        if fraud.contains(where: { $0.entityType == "ip" && $0.entity == ip }) { alerted.insert(entry.users[i]) }
                    }
                    result.entities = users.count
                    result.entitiesAlerted = alerted.count
                    if let first { result.delaySeconds = Double(first / 1000 - entry.start) / 1000 }
                }
            }
            incidents.append(result)
        }

        for kind in AlertKind.allCases {
            let firing = alerts.filter { $0.kind == kind && ($0.state == .firing) }
            guard !firing.isEmpty else { continue }
            let tp: Int
            switch kind.family {
            case .funnel:
                tp = firing.filter(relatedToIncident).count
                falseFunnelAlertIDs += firing.filter { !relatedToIncident($0) }.map { ($0.id, $0.time / 1000) }
            case .fraud: tp = firing.filter(isBadEntity).count
            case .signal: tp = 0
            }
            kinds.append(KindResult(kind: kind, firing: firing.count, truePositives: tp))
            switch kind.family {
            case .funnel: falseFunnelAlerts += firing.count - tp
            case .fraud: falseFraudAlerts += firing.count - tp
            case .signal: break
            }
        }
        signals = alerts.filter { $0.state == .signal }.count
    }

    static func label(_ entry: SimulatorTruth.Entry) -> String {
        switch entry.incident {
        case let .conversionDrop(step, fraction, device, channel, _, _):
            var scope = "all traffic"
            if let device { scope = "device=\(device)" }
            if let channel { scope = "channel=\(channel)" }
            return "\(step.name) conversion −\(Int((fraction * 100).rounded()))% (\(scope))"
        case let .trackingBreak(type, _, _): return "tracking break: \(type.name) events vanish"
        case let .bots(count, rate, _, _): return "\(count) bots at \(rate)/s"
        case let .cardTesting(users, attempts, _, _, _): return "card testing: \(users) accounts × \(attempts) checkouts"
        case let .sharedDevice(accounts, _, _): return "\(accounts) accounts on one device"
        }
    }

    /// Runs a simulated stream through an engine and collects every alert (in memory).
    public static func run(simulator config: SimulatorConfig, engine engineConfig: EngineConfig) throws(ConfigError)
        -> (alerts: [Alert], truth: SimulatorTruth, events: Int)
    {
        var engine = try Engine(config: engineConfig)
        var simulator = Simulator(config: config)
        let mapping: CompiledMapping
        do {
            mapping = try CompiledMapping(.canonicalJSON)
        } catch {
            throw ConfigError(key: "mapping", message: "\(error)")
        }
        var decoder = RecordDecoder(mapping: mapping)
        decoder.startSource()
        var sink = AlertCollector()
        var line: [UInt8] = []
        line.reserveCapacity(1024)
        var n: Int64 = 0
        while true {
            line.removeAll(keepingCapacity: true)
            guard simulator.next(into: &line) else { break }
            n += 1
            line.withUnsafeBytes { engine.process($0, decoder: &decoder, at: SourcePosition(source: 0, offset: n), sink: &sink) }
        }
        engine.finish(sink: &sink)
        return (sink.alerts, simulator.truth, Int(n))
    }
}

/// Keeps every alert; ignores everything else.
public struct AlertCollector: EngineSink {
    public var alerts: [Alert] = []
    public init() {}
    public mutating func deadLetter(_ failure: DecodeFailure, record: UnsafeRawBufferPointer, position: SourcePosition) {}
    public mutating func snapshot(_ snapshot: FunnelSnapshot) {}
    public mutating func alert(_ alert: Alert) { alerts.append(alert) }
}
