/// What an alert is about. The raw value is the `kind` field of the alert record.
public enum AlertKind: String, CaseIterable, Sendable, Codable {
    /// A funnel step's conversion fell significantly below its baseline (total or one breakdown value).
    case funnelDrop = "funnel_drop"
    /// A step's volume fell far below what the traffic predicts (e.g. broken tracking).
    case volumeDrop = "volume_drop"
    /// The input stopped: no events where the baseline expects many.
    case streamStalled = "stream_stalled"
    /// One user's event rate is beyond human.
    case velocity = "velocity"
    /// Many add-to-cart events from one user in a short time.
    case cartBurst = "cart_burst"
    /// Repeated checkouts or purchases by a user who never viewed a product.
    case checkoutWithoutView = "checkout_without_view"
    /// Many distinct users from one ip address in a window.
    case sharedIP = "shared_ip"
    /// Many distinct users from one device (ip + user agent) in a window.
    case sharedDevice = "shared_device"
    /// Inhumanly regular inter-event timing.
    case botTiming = "bot_timing"
    /// A purchase within seconds of the user's arrival.
    case fastPurchase = "fast_purchase"
    /// The user's feature vector is a statistical outlier against the population.
    case outlier = "outlier"
    /// A user with items in the cart went idle or scored low: the abandonment hook.
    case cartAbandonment = "cart_abandonment"

    /// funnel (lifecycle alerts on aggregates), fraud (per-entity, de-duplicated) or signal.
    public var family: AlertFamily {
        switch self {
        case .funnelDrop, .volumeDrop, .streamStalled: .funnel
        case .cartAbandonment: .signal
        default: .fraud
        }
    }
}

public enum AlertFamily: String, Sendable {
    case funnel, fraud, signal
}

/// Funnel alerts go `firing` → `resolved` under one id; fraud alerts and signals are one-shot
/// records (`firing` / `signal`), de-duplicated per entity and rule within a cooldown.
public enum AlertState: String, CaseIterable, Sendable {
    case firing, resolved, signal
}

public enum AlertSeverity: String, Sendable, Comparable {
    case info, warning, critical

    private var rank: Int {
        switch self {
        case .info: 0
        case .warning: 1
        case .critical: 2
        }
    }

    public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
}

/// One number that made a rule fire, by name (e.g. `events_per_minute = 118`).
public struct AlertEvidence: Sendable, Equatable {
    public var name: String
    public var value: Double

    public init(_ name: String, _ value: Double) {
        self.name = name
        self.value = value
    }
}

/// One breakdown value's part in a funnel drop: conversions lost there against its own baseline.
public struct AlertCause: Sendable, Equatable {
    public var dimension: String
    public var value: String
    /// Attempts that entered the step there in the long window, and the rate they converted at.
    public var volume: Int64
    public var observedRate: Double
    public var baselineRate: Double
    /// Expected minus observed conversions there.
    public var lostConversions: Double
    /// `lostConversions` over the lost conversions of the whole step (may exceed 1 when other
    /// values improved).
    public var share: Double

    public init(dimension: String, value: String, volume: Int64, observedRate: Double, baselineRate: Double,
                lostConversions: Double, share: Double) {
        self.dimension = dimension
        self.value = value
        self.volume = volume
        self.observedRate = observedRate
        self.baselineRate = baselineRate
        self.lostConversions = lostConversions
        self.share = share
    }
}

/// One alert record (schema `funnelpulse.alert.v1`). Alerts are rare, so this is an ordinary
/// value with strings; nothing here is on the per-event path.
public struct Alert: Sendable, Equatable {
    /// Stable id: the same incident keeps it from `firing` to `resolved`; fraud alerts use
    /// `kind:entity_type:entity`.
    public var id: String
    public var kind: AlertKind
    public var state: AlertState
    public var severity: AlertSeverity
    /// Event time of the decision (the watermark or the triggering event), µs since the epoch.
    public var time: Int64
    /// When the alert started firing (µs); equals `time` on the firing record.
    public var since: Int64
    /// `funnel_step`, `stream`, `user`, `ip` or `device`.
    public var entityType: String
    public var entity: String
    public var funnel: String?
    public var step: String?
    /// Breakdown dimension and value the alert is scoped to (nil: all traffic).
    public var dimension: String?
    public var value: String?
    /// Observed rate and counts over the long window; baseline and the observed rate's interval.
    public var observedRate: Double?
    public var observedCount: Int64?
    public var volume: Int64?
    public var expectedCount: Double?
    public var baselineRate: Double?
    public var intervalLow: Double?
    public var intervalHigh: Double?
    /// Short-window observed rate (burn-rate confirmation).
    public var shortRate: Double?
    public var evidence: [AlertEvidence]
    public var causes: [AlertCause]
    public var message: String

    public init(id: String, kind: AlertKind, state: AlertState, severity: AlertSeverity, time: Int64, since: Int64,
                entityType: String, entity: String, message: String) {
        self.id = id
        self.kind = kind
        self.state = state
        self.severity = severity
        self.time = time
        self.since = since
        self.entityType = entityType
        self.entity = entity
        self.evidence = []
        self.causes = []
        self.message = message
    }
}
