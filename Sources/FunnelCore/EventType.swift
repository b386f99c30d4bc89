/// The canonical event types every producer's vocabulary is mapped onto.
///
/// Raw values are stable: they index per-type counters and appear in checkpoints.
public enum EventType: UInt8, CaseIterable, Sendable, Codable, BitwiseCopyable {
    /// A generic page or screen view (landing, home, content).
    case page = 0
    /// A product (item detail) view.
    case view = 1
    case search = 2
    /// Add to cart.
    case cart = 3
    case removeFromCart = 4
    /// Favourite / wishlist.
    case fav = 5
    case checkout = 6
    case purchase = 7
    /// A type the mapping accepts but that has no canonical meaning.
    case custom = 8

    /// The name used in configuration files and in every output record.
    public var name: String { staticName.description }

    /// The same name as a `StaticString`, for writers that append bytes without allocating.
    public var staticName: StaticString {
        switch self {
        case .page: "page"
        case .view: "view"
        case .search: "search"
        case .cart: "cart"
        case .removeFromCart: "remove_from_cart"
        case .fav: "fav"
        case .checkout: "checkout"
        case .purchase: "purchase"
        case .custom: "custom"
        }
    }

    public init?(name: String) {
        guard let match = EventType.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    /// Bit for sets of types (funnel steps, rules).
    @inline(__always) public var bit: UInt16 { 1 &<< UInt16(rawValue) }

    /// The counter group used by the per-user sliding windows (six groups keep the state small).
    @inline(__always) public var windowGroup: Int {
        switch self {
        case .view: 0
        case .cart: 1
        case .fav: 2
        case .checkout: 3
        case .purchase: 4
        case .page, .search, .removeFromCart, .custom: 5
        }
    }

    public static let windowGroupNames = ["view", "cart", "fav", "checkout", "purchase", "other"]
    public static let windowGroupCount = 6

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let type = EventType(name: name) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "unknown event type '\(name)'"))
        }
        self = type
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}

/// A set of canonical event types.
public struct EventTypeSet: Hashable, Sendable {
    public var bits: UInt16
    public init(bits: UInt16) { self.bits = bits }
    public init(_ types: [EventType]) { bits = types.reduce(0) { $0 | $1.bit } }
    public static let all = EventTypeSet(bits: 0x1FF)
    @inline(__always) public func contains(_ type: EventType) -> Bool { bits & type.bit != 0 }
}

extension EventTypeSet: RawCodable {}
