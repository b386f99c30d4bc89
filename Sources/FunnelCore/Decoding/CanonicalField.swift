/// The canonical event's fields, as named in mapping files.
public enum CanonicalField: Int, CaseIterable, Sendable {
    case eventID = 0, timestamp, user, session, type, item, category, price, quantity, device, channel, ip,
        userAgent, properties

    public var name: String {
        switch self {
        case .eventID: "event_id"
        case .timestamp: "timestamp"
        case .user: "user_id"
        case .session: "session_id"
        case .type: "type"
        case .item: "item_id"
        case .category: "category"
        case .price: "price"
        case .quantity: "quantity"
        case .device: "device"
        case .channel: "channel"
        case .ip: "ip"
        case .userAgent: "user_agent"
        case .properties: "properties"
        }
    }

    public init?(name: String) {
        guard let field = CanonicalField.allCases.first(where: { $0.name == name }) else { return nil }
        self = field
    }

    public static let count = CanonicalField.allCases.count
}

/// A mapping that cannot be used; the message names the offending key.
public struct MappingError: Error, CustomStringConvertible, Sendable, Equatable {
    public var key: String
    public var message: String
    public init(key: String, message: String) {
        self.key = key
        self.message = message
    }
    public var description: String { "mapping: \(key): \(message)" }
}
