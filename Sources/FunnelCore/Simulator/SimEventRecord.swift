/// One generated event before it is written as JSON. Plain values only, so a record can wait
/// in the disorder queue without any allocation.
struct SimEventRecord: Sendable {
    /// Event time in milliseconds after `SimulatorConfig.start` (continuous; printed floored).
    var time: Double
    var eventNumber: Int = 0
    var user: Int
    var session: Int
    var type: EventType
    /// −1 when the event has no item / category / price.
    var item: Int32 = -1
    var category: Int32 = -1
    var priceCents: Int32 = -1
    var quantity: Int32 = 1
    var device: UInt8
    var channel: UInt8
    var userAgent: Int32
    var ip: UInt32
    /// `truth.p`; negative when the event carries none (purchases).
    var probability: Double
}
