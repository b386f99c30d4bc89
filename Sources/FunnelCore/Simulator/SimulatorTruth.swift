/// Ground truth of a simulated stream: what was injected, when, and whom it touched.
///
/// A caller writes this beside the stream (it is `Codable`) so detectors can be scored. Entity
/// lists known up front (bot, card-tester and shared-device user ids, their ip and agent) are
/// complete from the start; the counters grow while the stream is generated and are final once
/// `Simulator.next` has returned false.
public struct SimulatorTruth: Sendable, Codable, Equatable {
    /// One injected incident and its effect.
    public struct Entry: Sendable, Codable, Equatable {
        /// `Incident.kind`: conversion_drop, tracking_break, bots, card_testing, shared_device.
        public var kind: String
        /// Active range [start, end), epoch milliseconds.
        public var start: Int64
        public var end: Int64
        /// The incident as configured.
        public var incident: Incident
        /// Users the incident consists of (bots, card testers, shared-device accounts); for
        /// conversion_drop the users whose sessions were affected, in first-affected order.
        public var users: [String] = []
        /// Device / channel filter (conversion_drop) or the device used (shared_device).
        public var device: String?
        public var channel: String?
        /// Step whose conversion dropped (conversion_drop) or type that vanished (tracking_break).
        public var eventType: String?
        /// Shared ip / user agent (shared_device); for bots and card testing see `ips`.
        public var ip: String?
        public var userAgent: String?
        /// Per-user ips for bots and card testers, aligned with `users`.
        public var ips: [String] = []
        /// Sessions started under the incident (conversion_drop, shared_device, card_testing, bots).
        public var affectedSessions: Int = 0
        /// Events emitted by the incident's actors, or events removed (tracking_break).
        public var affectedEvents: Int = 0
    }

    /// Horizon H used for every `truth.p` in the stream.
    public var horizonSeconds: Int
    /// First event time and end of the simulated span, epoch milliseconds.
    public var start: Int64
    public var end: Int64
    /// One entry per configured incident, in configuration order.
    public var incidents: [Entry]

    public init(horizonSeconds: Int, start: Int64, end: Int64, incidents: [Entry]) {
        self.horizonSeconds = horizonSeconds
        self.start = start
        self.end = end
        self.incidents = incidents
    }
}
