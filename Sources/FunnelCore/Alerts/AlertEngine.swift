/// Every detector of the engine, fed from `Engine.apply` and the funnel windows. Deterministic:
/// driven by event time only.
public struct AlertEngine: Sendable {
    public let config: AlertConfig
    public private(set) var funnel: FunnelDropDetector
    public private(set) var entities: EntityDetector
    public private(set) var carts: CartAbandonmentTracker

    public init(config: AlertConfig, engine: EngineConfig) {
        self.config = config
        funnel = FunnelDropDetector(config: config.funnel, funnelWindowSeconds: engine.funnelWindowSeconds)
        entities = EntityDetector(config: config.entities, windowSeconds: engine.windowSeconds)
        carts = CartAbandonmentTracker(config: config.cartAbandonment, maxCarts: engine.effectiveMaxUsers)
    }

    /// Pseudonymize user entities from now on (nil: raw ids).
    mutating func setUserPseudonymizer(_ pseudonymizer: UserPseudonymizer?) {
        entities.pseudonymizer = pseudonymizer
        carts.pseudonymizer = pseudonymizer
    }

    @inline(__always)
    mutating func observe(_ event: Event, context: EventContext, user: UserRecord, record: UnsafeRawBufferPointer,
                          emit: (Alert) -> Void) {
        entities.observe(event, context: context, user: user, record: record, emit: emit)
        carts.observe(event, user: user, record: record)
    }

    mutating func scored(_ probability: Double, event: Event, user: UserRecord, emit: (Alert) -> Void) {
        carts.scored(probability, event: event, user: user, emit: emit)
    }

    mutating func windowClosed(_ snapshot: FunnelSnapshot, emit: (Alert) -> Void) {
        funnel.windowClosed(snapshot, emit: emit)
    }

    mutating func handOverCarts(users: Set<UInt64>) -> [CartAbandonmentTracker.Handed] {
        carts.handOver(users: users)
    }

    mutating func takeOverCarts(_ handed: [CartAbandonmentTracker.Handed], keep: (UInt64) -> Bool) {
        carts.takeOver(handed, keep: keep)
    }

    mutating func popDueCart(_ watermark: Int64) -> (deadline: Int64, user: UInt64)? { carts.popDue(watermark) }

    mutating func cartDue(user key: UInt64, record: UserRecord?, watermark: Int64, emit: (Alert) -> Void) {
        carts.due(user: key, record: record, watermark: watermark, emit: emit)
    }
}

/// Alerts counted by kind and state (summary.json, /metrics, the evaluation).
public struct AlertCounts: Sendable, Equatable {
    private var counts = Array(repeating: 0, count: AlertKind.allCases.count * AlertState.allCases.count)

    public init() {}

    public mutating func add(_ alert: Alert) {
        counts[Self.index(alert.kind, alert.state)] += 1
    }

    public func count(_ kind: AlertKind, _ state: AlertState) -> Int { counts[Self.index(kind, state)] }

    public var total: Int { counts.reduce(0, +) }

    static func index(_ kind: AlertKind, _ state: AlertState) -> Int {
        (AlertKind.allCases.firstIndex(of: kind) ?? 0) * AlertState.allCases.count
            + (AlertState.allCases.firstIndex(of: state) ?? 0)
    }
}

extension AlertEngine: Codable {}
