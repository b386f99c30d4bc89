import FunnelCore

/// The mappings the fuzz targets and hostile-input tests decode with.
///
/// The three CSV mappings are copies of the shipped `deploy/mappings/*.yaml` files (FunnelCore
/// cannot read YAML); `FunnelDaemonTests` checks that each copy equals the loaded file, so they
/// cannot drift. `nestedJSON` exists only here: no shipped mapping reads its fields mainly from
/// nested JSON paths, so this one covers that shape of the scanner (dotted paths up to four
/// levels, a key that is both a mapped object and the parent of mapped paths, `unknown_types:
/// custom`, a small `max_record_bytes` that the fuzzer's inputs can exceed).
public enum FuzzMappings {
    /// `deploy/mappings/taobao-userbehavior.yaml`: headerless CSV, columns by index, Unix seconds.
    public static let taobao = MappingSpec(
        format: .csv,
        csv: .init(header: false, delimiter: ","),
        fields: [
            "user_id": .init([.index(0)]),
            "item_id": .init([.index(1)]),
            "category": .init([.index(2)]),
            "type": .init([.index(3)]),
            "timestamp": .init([.index(4)]),
        ],
        timestampUnit: .s,
        types: ["view": ["pv"], "cart": ["cart"], "fav": ["fav"], "purchase": ["buy"]],
        unknownTypes: .reject,
        maxRecordBytes: 65_536)

    /// `deploy/mappings/rees46-ecommerce.yaml`: CSV with a header line, ISO-8601 " UTC" times,
    /// two candidates for `category`.
    public static let rees46 = MappingSpec(
        format: .csv,
        csv: .init(header: true, delimiter: ","),
        fields: [
            "timestamp": .init([.name("event_time")]),
            "type": .init([.name("event_type")]),
            "item_id": .init([.name("product_id")]),
            "category": .init([.name("category_id"), .name("category_code")]),
            "price": .init([.name("price")]),
            "user_id": .init([.name("user_id")]),
            "session_id": .init([.name("user_session")]),
        ],
        timestampUnit: .iso8601,
        types: ["view": ["view"], "cart": ["cart"], "remove_from_cart": ["remove_from_cart"], "purchase": ["purchase"]],
        unknownTypes: .reject,
        maxRecordBytes: 65_536)

    /// `deploy/mappings/retailrocket-events.yaml`: CSV with a header line, epoch milliseconds.
    public static let retailrocket = MappingSpec(
        format: .csv,
        csv: .init(header: true, delimiter: ","),
        fields: [
            "user_id": .init([.name("visitorid")]),
            "timestamp": .init([.name("timestamp")]),
            "type": .init([.name("event")]),
            "item_id": .init([.name("itemid")]),
        ],
        timestampUnit: .ms,
        types: ["view": ["view"], "cart": ["addtocart"], "purchase": ["transaction"]],
        unknownTypes: .reject,
        maxRecordBytes: 65_536)

    /// An analytics-SDK style event (Segment-like): identifiers and values under `properties` and
    /// `context`, several candidates per field, unknown types accepted as `custom`.
    public static let nestedJSON = MappingSpec(
        format: .json,
        fields: [
            "event_id": .init([.name("messageId"), .name("context.event.id")]),
            "timestamp": .init([.name("timestamp"), .name("originalTimestamp"), .name("context.time.sent")]),
            "user_id": .init([.name("userId"), .name("context.traits.user.id"), .name("anonymousId")]),
            "session_id": .init([.name("context.session.id")]),
            "type": .init([.name("event"), .name("context.event.type")]),
            "item_id": .init([.name("properties.product_id"), .name("properties.product.id")]),
            "category": .init([.name("properties.category"), .name("properties.product.category.id")]),
            "price": .init([.name("properties.price"), .name("properties.product.price")]),
            "quantity": .init([.name("properties.quantity")]),
            "device": .init([.name("context.device.type")]),
            "channel": .init([.name("context.campaign.source")]),
            "ip": .init([.name("context.ip")]),
            "user_agent": .init([.name("context.userAgent")]),
            "properties": .init([.name("properties")]),
        ],
        timestampUnit: .auto,
        types: MappingSpec.standardTypeAliases.merging(
            ["view": ["pv", "view", "product_viewed", "page_viewed", "Product Viewed"],
             "cart": ["cart", "addtocart", "add_to_cart", "product_added_to_cart", "Product Added"],
             "purchase": ["buy", "purchase", "transaction", "checkout_completed", "order_completed", "Order Completed"]],
            uniquingKeysWith: { _, new in new }),
        unknownTypes: .custom,
        maxRecordBytes: 2048)
}
