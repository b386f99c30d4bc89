/// Long-lived state of one simulated user (an ordinary shopper or an incident's actor).
///
/// Kept small (one million of them live in memory for the benchmarks); everything that only
/// matters while a session is open lives in a pooled ``SimSession`` instead.
struct SimActor: Sendable {
    enum Kind: UInt8, Sendable {
        /// Ordinary shopper: sessions for the whole span, driven by ``FunnelChain``.
        case shopper
        /// Crawler of a `bots` incident.
        case bot
        /// Account of a `cardTesting` incident.
        case cardTester
        /// Account of a `sharedDevice` incident: one ordinary session, then gone.
        case sharedAccount
    }

    var kind: Kind
    /// Index into the configured incidents (0 for shoppers).
    var incident: UInt16 = 0
    var primaryDevice: UInt8 = 0
    var preferredChannel: UInt8 = 0
    var priorSessions: UInt16 = 0
    var priorPurchases: UInt16 = 0
    /// Slot of the open session in the session pool, −1 when between sessions.
    var session: Int32 = -1
    /// Multiplier of the latent intent (one of ``ShopperModel/intents(sigma:)``, mean 1).
    var intent: Float = 1
    /// IPv4 address as a 32-bit number.
    var ip: UInt32 = 0
}
