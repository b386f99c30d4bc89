/// State of one open session, held in a reusable pool slot while the session lasts.
struct SimSession: Sendable {
    /// Global session number (printed as s-<n>).
    var id: Int = 0
    var chain = FunnelChain.idle
    /// Current stage 0 browse, 1 carted, 2 checkout.
    var stage: Int = 0
    /// False while the session is landing (a page or search start, product not shown yet).
    var viewed: Bool = true
    /// P(purchase within H) from the landing state; its history tells nothing about the
    /// product, so this is the chain's absorption averaged over every category the product
    /// could be in.
    var landingProbability: Double = 0
    /// Kind of the jump scheduled at the actor's heap time (stay or advance — the first product
    /// view when landing; leaving is never scheduled because it emits nothing — the session is
    /// closed when it is drawn).
    var advanceNext: Bool = false
    var device: UInt8 = 0
    var channel: UInt8 = 0
    var userAgent: Int32 = 0
    var ip: UInt32 = 0
    /// Category the session is focused on, and the item it is after (cart / checkout / purchase).
    var focusCategory: Int32 = 0
    var targetItem: Int32 = 0
    var quantity: Int32 = 1
    /// Card testing: attempt number, whether the next event is the approved purchase, the
    /// burst's first attempt time and interval. Bots: the nominal gap.
    var attempt: Int32 = 0
    var purchasePending: Bool = false
    var origin: Double = 0
    var interval: Double = 0
    var priceCents: Int32 = 0
    /// Card testing: number of attempts and approval probability. Bots: time to stop.
    var attemptLimit: Int32 = 0
    var approval: Double = 0
    var stopTime: Double = 0
}

extension FunnelChain {
    /// Placeholder for pool slots that hold no shopper session (never used to draw).
    static let idle = FunnelChain(multipliers: .zero, drop: .zero, horizonMillis: 0)
}
