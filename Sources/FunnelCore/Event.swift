/// Where a field's text sits inside the record it was decoded from, and how it is encoded there.
///
/// Events never copy strings: every textual field is a span into the record bytes, valid while
/// the engine processes that record. Values that must outlive the record are stored as hashes.
public struct Span: Sendable, Equatable {
    public enum Encoding: UInt8, Sendable {
        /// Bytes are the value itself.
        case plain = 0
        /// Bytes are the inside of a JSON string literal and may hold escapes.
        case jsonEscaped = 1
        /// Bytes are the inside of a quoted CSV field and may hold doubled quotes.
        case csvQuoted = 2
    }

    public var start: Int32
    public var count: Int32
    public var encoding: Encoding

    @inline(__always)
    public init(start: Int, count: Int, encoding: Encoding = .plain) {
        self.start = Int32(truncatingIfNeeded: start)
        self.count = Int32(truncatingIfNeeded: count)
        self.encoding = encoding
    }

    public static let absent = Span(start: 0, count: -1)
    @inline(__always) public var isPresent: Bool { count >= 0 }
    @inline(__always) public var range: Range<Int> { Int(start)..<Int(start + max(count, 0)) }
}

/// The canonical clickstream event.
///
/// A value type with no references: decoding one allocates nothing. Text fields are ``Span``s
/// into the source record; their 64-bit stable hashes (``StableHash``) identify users, items,
/// sessions and dimension values inside the engine. A key of 0 means "absent".
public struct Event: Sendable {
    /// Event time, microseconds since the Unix epoch (UTC).
    public var timestamp: Int64 = 0
    public var type: EventType = .custom

    public var eventID = Span.absent
    public var eventKey: UInt64 = 0
    public var user = Span.absent
    public var userKey: UInt64 = 0
    public var session = Span.absent
    public var sessionKey: UInt64 = 0
    public var item = Span.absent
    public var itemKey: UInt64 = 0
    public var category = Span.absent
    public var categoryKey: UInt64 = 0
    public var device = Span.absent
    public var deviceKey: UInt64 = 0
    public var channel = Span.absent
    public var channelKey: UInt64 = 0
    public var ip = Span.absent
    public var ipKey: UInt64 = 0
    public var userAgent = Span.absent
    public var userAgentKey: UInt64 = 0
    /// Raw bytes of the producer's free-form properties object, if the mapping names one.
    public var properties = Span.absent

    /// Unit price; NaN when the record has none.
    public var price: Double = .nan
    public var quantity: Int32 = 1

    public init() {}
}
