/// A bounded, set-associative table from 64-bit entity keys to slots: each key hashes to one
/// set of ways, and inserting into a full set replaces the way touched longest ago. Memory is
/// fixed at construction (nothing grows, nothing is allocated per call), and stale entries are
/// replaced first — so flooding it with new keys (e.g. spoofed ips) evicts old state instead
/// of growing memory, while busy entities, touched recently, survive.
///
/// A slot is `2 + valueWords` words stored inline: key (0: empty), last-touch event time (µs),
/// then the owner's value words, so a lookup and the values it usually needs share one or two
/// adjacent cache lines (a set spans 128 bytes). The owner resets a slot's values when
/// ``findOrInsert(_:now:)`` reports a new (or recycled) slot.
struct EntityTable: Sendable {
    private var entries: [UInt64]
    private let stride: Int
    private let ways: Int
    private let setMask: Int
    /// Occupied slots.
    private(set) var count = 0
    private(set) var capacity = 0
    private var cursor = 0
    /// Bytes of the table (allocated once, at its full size).
    var bytes: Int { entries.count * MemoryLayout<UInt64>.stride }

    /// `capacity` is rounded up to a power of two (at least one set); 0 makes an empty table
    /// for a disabled rule.
    init(capacity: Int, valueWords: Int = 0) {
        stride = 2 + max(0, valueWords)
        ways = max(2, 16 / stride)
        guard capacity > 0 else {
            entries = []
            setMask = 0
            return
        }
        var size = ways
        while size < capacity { size <<= 1 }
        self.capacity = size
        entries = Array(repeating: 0, count: stride * size)
        setMask = size / ways - 1
    }

    /// Keys are stable hashes; 0 is reserved for empty slots.
    @inline(__always)
    static func normalize(_ key: UInt64) -> UInt64 { key == 0 ? 1 : key }

    @inline(__always)
    private func firstSlot(of key: UInt64) -> Int {
        (Int(truncatingIfNeeded: key >> 24) & setMask) &* ways
    }

    @inline(__always)
    private func key(_ slot: Int) -> UInt64 { entries[slot &* stride] }

    @inline(__always)
    func stamp(_ slot: Int) -> Int64 { Int64(bitPattern: entries[slot &* stride &+ 1]) }

    @inline(__always)
    mutating func setStamp(_ slot: Int, _ time: Int64) { entries[slot &* stride &+ 1] = UInt64(bitPattern: time) }

    @inline(__always)
    func value(_ slot: Int, _ word: Int) -> UInt64 { entries[slot &* stride &+ 2 &+ word] }

    @inline(__always)
    mutating func setValue(_ slot: Int, _ word: Int, _ value: UInt64) { entries[slot &* stride &+ 2 &+ word] = value }

    /// The slot holding `key`, if any.
    @inline(__always)
    func find(_ key: UInt64) -> Int? {
        let k = Self.normalize(key)
        let first = firstSlot(of: k)
        for i in first..<(first &+ ways) where self.key(i) == k { return i }
        return nil
    }

    /// The slot holding `key`, inserted (into an empty way, else over the stalest) when absent;
    /// `isNew` tells the owner to reset the slot's values. Touches the slot at `now`.
    @inline(__always)
    mutating func findOrInsert(_ key: UInt64, now: Int64) -> (slot: Int, isNew: Bool) {
        let k = Self.normalize(key)
        let first = firstSlot(of: k)
        var victim = first
        var oldest = Int64.max
        for i in first..<(first &+ ways) {
            let present = self.key(i)
            if present == k {
                if now > stamp(i) { setStamp(i, now) }
                return (i, false)
            }
            let age = present == 0 ? Int64.min : stamp(i)
            if age < oldest {
                oldest = age
                victim = i
            }
        }
        if self.key(victim) == 0 { count += 1 }
        entries[victim &* stride] = k
        setStamp(victim, now)
        return (victim, true)
    }

    /// Empties one slot per call, round robin, when its last touch is older than `maxAge` (µs)
    /// before `now`: amortised cleanup so the occupancy reported for metrics stays current.
    @inline(__always)
    mutating func sweep(now: Int64, maxAge: Int64) {
        guard capacity > 0 else { return }
        let i = cursor
        cursor = (cursor &+ 1) & (capacity &- 1)
        if key(i) != 0 && now &- stamp(i) > maxAge {
            entries[i &* stride] = 0
            count -= 1
        }
    }
}

/// Remembers when each (rule, entity) last fired, so it fires at most once per cooldown.
struct CooldownTable: Sendable {
    private var table: EntityTable
    private let cooldown: Int64

    init(capacity: Int, cooldownSeconds: Int) {
        table = EntityTable(capacity: capacity)
        cooldown = Int64(cooldownSeconds) * 1_000_000
    }

    var count: Int { table.count }
    var bytes: Int { table.bytes }

    @inline(__always)
    static func key(_ rule: EntityRule, _ entity: UInt64) -> UInt64 {
        StableHash.combine(entity, UInt64(rule.rawValue) &+ 0x51ed)
    }

    /// True (and remembers `now`) when (rule, entity) has not fired within the cooldown before
    /// `now`; false for a repeat. An event older than the last firing counts as a repeat.
    @inline(__always)
    mutating func admit(_ rule: EntityRule, entity: UInt64, now: Int64) -> Bool {
        let (slot, isNew) = table.findOrInsert(Self.key(rule, entity), now: .min)
        if !isNew && now &- table.stamp(slot) < cooldown { return false }
        table.setStamp(slot, now)
        return true
    }

    /// Whether (rule, entity) is inside its cooldown at `now` (no state change).
    @inline(__always)
    func isCoolingDown(_ rule: EntityRule, entity: UInt64, now: Int64) -> Bool {
        guard let slot = table.find(Self.key(rule, entity)) else { return false }
        return now &- table.stamp(slot) < cooldown
    }

    @inline(__always)
    mutating func sweep(now: Int64) { table.sweep(now: now, maxAge: cooldown) }
}

/// The detector's rules, with the alert kind, severity and entity type of each.
enum EntityRule: UInt8, Sendable, CaseIterable {
    case velocity, cartBurst, checkoutWithoutView, sharedIP, sharedDevice, botTiming, fastPurchase, outlier

    var kind: AlertKind {
        switch self {
        case .velocity: .velocity
        case .cartBurst: .cartBurst
        case .checkoutWithoutView: .checkoutWithoutView
        case .sharedIP: .sharedIP
        case .sharedDevice: .sharedDevice
        case .botTiming: .botTiming
        case .fastPurchase: .fastPurchase
        case .outlier: .outlier
        }
    }

    /// Card-testing signatures (money moving) are critical; behavioural anomalies are warnings.
    var severity: AlertSeverity {
        switch self {
        case .checkoutWithoutView, .fastPurchase: .critical
        default: .warning
        }
    }

    var entityType: String {
        switch self {
        case .sharedIP: "ip"
        case .sharedDevice: "device"
        default: "user"
        }
    }
}

extension EntityTable: Codable {}

extension CooldownTable: Codable {}
