/// A producer-to-canonical mapping, as written in a mapping YAML file (see `docs/mapping.md`).
///
/// Plain `Codable` data: the daemon decodes it from YAML, ``CompiledMapping`` turns it into the
/// lookup tables the decoders use. Every field has a default.
public struct MappingSpec: Codable, Sendable, Equatable {
    public enum Format: String, Codable, Sendable { case json, csv }

    public enum TimestampUnit: String, Codable, Sendable {
        case auto, s, ms, us, iso8601
    }

    public enum UnknownTypes: String, Codable, Sendable {
        /// Dead-letter the record with reason `unknown_type`.
        case reject
        /// Accept it as canonical type `custom`.
        case custom
    }

    /// One way to find a field in a record: a key / dotted JSON path / CSV column name, or a CSV column index.
    public enum FieldRef: Codable, Sendable, Hashable, CustomStringConvertible {
        case name(String)
        case index(Int)

        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let index = try? container.decode(Int.self) {
                self = .index(index)
            } else {
                self = .name(try container.decode(String.self))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .name(let name): try container.encode(name)
            case .index(let index): try container.encode(index)
            }
        }

        public var description: String {
            switch self {
            case .name(let name): name
            case .index(let index): "#\(index)"
            }
        }
    }

    /// Candidates for one field, tried in order: the first one present in a record wins.
    public struct Candidates: Codable, Sendable, Equatable {
        public var refs: [FieldRef]
        public init(_ refs: [FieldRef]) { self.refs = refs }

        public init(from decoder: any Decoder) throws {
            if let list = try? [FieldRef](from: decoder) {
                refs = list
            } else {
                refs = [try FieldRef(from: decoder)]
            }
        }

        public func encode(to encoder: any Encoder) throws { try refs.encode(to: encoder) }
    }

    public struct CSVOptions: Codable, Sendable, Equatable {
        /// The first line of each file names the columns.
        public var header: Bool = false
        /// Column names for sources without a header line (Kafka messages, headerless files).
        public var columns: [String] = []
        public var delimiter: String = ","

        public init(header: Bool = false, columns: [String] = [], delimiter: String = ",") {
            self.header = header
            self.columns = columns
            self.delimiter = delimiter
        }

        enum CodingKeys: String, CodingKey { case header, columns, delimiter }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            header = try c.decodeIfPresent(Bool.self, forKey: .header) ?? false
            columns = try c.decodeIfPresent([String].self, forKey: .columns) ?? []
            delimiter = try c.decodeIfPresent(String.self, forKey: .delimiter) ?? ","
        }
    }

    public var version: Int = 1
    public var format: Format = .json
    public var csv = CSVOptions()
    public var fields: [String: Candidates] = [:]
    public var timestampUnit: TimestampUnit = .auto
    public var types: [String: [String]] = [:]
    public var unknownTypes: UnknownTypes = .reject
    public var maxRecordBytes: Int = 65_536

    public init(
        format: Format = .json,
        csv: CSVOptions = CSVOptions(),
        fields: [String: Candidates] = [:],
        timestampUnit: TimestampUnit = .auto,
        types: [String: [String]] = [:],
        unknownTypes: UnknownTypes = .reject,
        maxRecordBytes: Int = 65_536
    ) {
        self.format = format
        self.csv = csv
        self.fields = fields
        self.timestampUnit = timestampUnit
        self.types = types
        self.unknownTypes = unknownTypes
        self.maxRecordBytes = maxRecordBytes
    }

    enum CodingKeys: String, CodingKey {
        case version, format, csv, fields, types
        case timestampUnit = "timestamp_unit"
        case unknownTypes = "unknown_types"
        case maxRecordBytes = "max_record_bytes"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? 1
        format = try c.decodeIfPresent(Format.self, forKey: .format) ?? .json
        csv = try c.decodeIfPresent(CSVOptions.self, forKey: .csv) ?? CSVOptions()
        fields = try c.decodeIfPresent([String: Candidates].self, forKey: .fields) ?? [:]
        timestampUnit = try c.decodeIfPresent(TimestampUnit.self, forKey: .timestampUnit) ?? .auto
        types = try c.decodeIfPresent([String: [String]].self, forKey: .types) ?? [:]
        unknownTypes = try c.decodeIfPresent(UnknownTypes.self, forKey: .unknownTypes) ?? .reject
        maxRecordBytes = try c.decodeIfPresent(Int.self, forKey: .maxRecordBytes) ?? 65_536
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(format, forKey: .format)
        if format == .csv { try c.encode(csv, forKey: .csv) }
        try c.encode(fields, forKey: .fields)
        try c.encode(timestampUnit, forKey: .timestampUnit)
        try c.encode(types, forKey: .types)
        try c.encode(unknownTypes, forKey: .unknownTypes)
        try c.encode(maxRecordBytes, forKey: .maxRecordBytes)
    }
}

// MARK: - Built-in mapping

extension MappingSpec {
    /// The project's own JSON events (what `simulate` writes and `demo` feeds), with the usual renames.
    /// Kept identical to `deploy/mappings/funnelpulse-json.yaml`.
    public static let canonicalJSON = MappingSpec(
        format: .json,
        fields: [
            "event_id": .init([.name("event_id"), .name("eventId"), .name("id")]),
            "timestamp": .init([.name("ts"), .name("timestamp"), .name("time")]),
            "user_id": .init([.name("user_id"), .name("userId"), .name("client_id"), .name("clientId")]),
            "session_id": .init([.name("session_id"), .name("sessionId")]),
            "type": .init([.name("type"), .name("event"), .name("event_type")]),
            "item_id": .init([.name("item_id"), .name("itemId"), .name("product_id")]),
            "category": .init([.name("category"), .name("category_id")]),
            "price": .init([.name("price")]),
            "quantity": .init([.name("quantity"), .name("qty")]),
            "device": .init([.name("device"), .name("context.device.type")]),
            "channel": .init([.name("channel"), .name("utm_source")]),
            "ip": .init([.name("ip"), .name("context.ip")]),
            "user_agent": .init([.name("user_agent"), .name("userAgent"), .name("context.userAgent")]),
            "properties": .init([.name("properties")]),
        ],
        timestampUnit: .auto,
        types: MappingSpec.standardTypeAliases
    )

    public static let standardTypeAliases: [String: [String]] = [
        "page": ["page", "page_view", "screen_view"],
        "view": ["pv", "view", "product_viewed", "page_viewed"],
        "search": ["search", "products_searched"],
        "cart": ["cart", "addtocart", "add_to_cart", "product_added_to_cart"],
        "remove_from_cart": ["remove_from_cart", "product_removed"],
        "fav": ["fav", "wishlist", "product_added_to_wishlist"],
        "checkout": ["checkout", "checkout_started", "begin_checkout"],
        "purchase": ["buy", "purchase", "transaction", "checkout_completed", "order_completed"],
        "custom": ["custom"],
    ]
}
