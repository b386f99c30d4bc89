/// Everything the engine keeps per user: fixed size, no references (224-byte stride; with its
/// activity-list links and its share of the index, under 256 bytes).
///
/// Times are seconds since the Unix epoch (UInt32, good to 2106) except `lastSeen` (µs, exact).
public struct UserRecord: Sendable {
    public static let maxWindows = 4
    public static let buckets = 4
    public static let ringSize = 8

    public var key: UInt64 = 0
    /// Latest event time seen for this user (µs since the Unix epoch).
    public var lastSeen: Int64 = 0
    public var firstSeen: UInt32 = 0
    public var sessionStart: UInt32 = 0
    /// Low 32 bits of the producer's session id hash (0: sessions are inferred by inactivity gap).
    public var sessionTag: UInt32 = 0
    public var cartValue: Float = 0
    public var cartItems: UInt16 = 0
    public var sessionDepth: UInt16 = 0
    public var sessions: UInt16 = 0
    public var purchases: UInt16 = 0
    /// The input source (partition slot) whose event this user last had, -1 before any: state is
    /// handed over by partition on a rebalance (``Engine/exportPartition(source:)``).
    public internal(set) var source: Int32 = -1
    /// The current session's entry product: category fingerprint (``categoryFingerprint(_:)``,
    /// 0 = none yet) and 1 + price bin (0 = none yet) of its first product event with a category /
    /// a price.
    public var sessionCategory: UInt16 = 0
    public var sessionPrice: UInt8 = 0
    /// Furthest funnel stage of the current session: 0 none, 1 viewed, 2 carted, 3 checkout,
    /// 4 purchased (``FeatureExtractor/stage(of:)``).
    public var sessionStage: UInt8 = 0
    /// Two-hash Bloom filters over item ids viewed / carted by this user.
    public var viewedItems: UInt64 = 0
    public var cartedItems: UInt64 = 0
    /// counts[window][bucket][group], saturating at 255 (sliding windows at quarter resolution).
    public var counts = InlineArray<96, UInt8>(repeating: 0)
    /// Recent product events: item fingerprint (24 bits) | category fingerprint (16) | time mod 2^24 s (24).
    public var recent = InlineArray<8, UInt64>(repeating: 0)

    init() {}
}

extension UserRecord {
    @inline(__always)
    static func bloomBits(_ key: UInt64) -> UInt64 {
        (1 &<< (key & 63)) | (1 &<< ((key >> 6) & 63))
    }

    /// A session starts: no stage reached and no entry product yet.
    @inline(__always)
    mutating func startSessionEntry() {
        sessionCategory = 0
        sessionPrice = 0
        sessionStage = 0
    }

    @inline(__always)
    public func hasViewed(_ itemKey: UInt64) -> Bool {
        let bits = Self.bloomBits(itemKey)
        return itemKey != 0 && viewedItems & bits == bits
    }

    @inline(__always)
    public func hasCarted(_ itemKey: UInt64) -> Bool {
        let bits = Self.bloomBits(itemKey)
        return itemKey != 0 && cartedItems & bits == bits
    }

    @inline(__always)
    public func count(window: Int, group: Int) -> Int {
        var total = 0
        let base = window * 24 + group
        for b in 0..<4 { total += Int(counts[base + b * 6]) }
        return total
    }

    @inline(__always)
    public func total(window: Int) -> Int {
        var total = 0
        let base = window * 24
        for i in 0..<24 { total += Int(counts[base + i]) }
        return total
    }

    /// Distinct items and categories among the recent product events within `seconds` of `now`.
    public func distinctRecent(now: UInt32, seconds: UInt32) -> (items: Int, categories: Int) {
        var items = InlineArray<8, UInt64>(repeating: 0)
        var cats = InlineArray<8, UInt64>(repeating: 0)
        var ni = 0
        var nc = 0
        let nowTag = UInt64(now) & 0xFF_FFFF
        for i in 0..<8 {
            let e = recent[i]
            if e == 0 { continue }
            let age = (nowTag &- (e & 0xFF_FFFF)) & 0xFF_FFFF
            if age > UInt64(seconds) { continue }
            let item = e >> 40
            let cat = (e >> 24) & 0xFFFF
            var seen = false
            for k in 0..<ni where items[k] == item { seen = true }
            if !seen {
                items[ni] = item
                ni += 1
            }
            seen = false
            for k in 0..<nc where cats[k] == cat { seen = true }
            if !seen {
                cats[nc] = cat
                nc += 1
            }
        }
        return (ni, nc)
    }
}

extension UserRecord: RawCodable {}

extension UserRecord {
    /// The 16-bit fingerprint a category key is kept as in user state (``sessionCategory``, the
    /// recent products) and in the model's category rates: its top bits with the low bit set, so
    /// only "no category" (key 0) reads 0.
    @inline(__always)
    public static func categoryFingerprint(_ categoryKey: UInt64) -> UInt16 {
        categoryKey == 0 ? 0 : UInt16(truncatingIfNeeded: categoryKey >> 48) | 1
    }
}
