/// Drops exact duplicates by event id within a span of event time.
///
/// Two generations of ids: the current one and the previous one, rotated when the stream's
/// event time crosses the span (or early when a generation fills up), so memory is bounded and
/// an id is remembered for between one and two spans.
public struct Deduplicator: Sendable {
    private var current: U64Set
    private var previous: U64Set
    private let spanMicros: Int64
    private var generationStart: Int64 = .min
    public private(set) var earlyRotations = 0

    public init(spanSeconds: Int, capacity: Int) {
        spanMicros = Int64(spanSeconds) * 1_000_000
        current = U64Set(capacity: capacity)
        previous = U64Set(capacity: capacity)
    }

    public var isEnabled: Bool { spanMicros > 0 }

    /// True if `key` was seen within the span; otherwise remembers it.
    @inline(__always)
    public mutating func isDuplicate(_ key: UInt64, streamTime: Int64) -> Bool {
        if generationStart == .min { generationStart = streamTime }
        if streamTime - generationStart >= spanMicros {
            rotate(to: streamTime)
        } else if current.isFull {
            earlyRotations += 1
            rotate(to: streamTime)
        }
        if previous.contains(key) || current.contains(key) { return true }
        current.insert(key)
        return false
    }

    private mutating func rotate(to time: Int64) {
        swap(&current, &previous)
        current.removeAll()
        generationStart = time
    }
}

/// Open-addressing set of non-zero 64-bit keys with a fixed capacity.
struct U64Set: Sendable {
    private var slots: [UInt64]
    private var mask: Int
    private(set) var count = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        var size = 16
        while size < self.capacity * 2 { size <<= 1 }
        // Allocated lazily up to the needed size: start small, double as it fills.
        let initial = min(size, 1 << 12)
        slots = Array(repeating: 0, count: initial)
        mask = initial - 1
    }

    var isFull: Bool { count >= capacity }

    @inline(__always)
    func contains(_ key: UInt64) -> Bool {
        let k = key == 0 ? 1 : key
        var i = Int(truncatingIfNeeded: k) & mask
        while true {
            let s = slots[i]
            if s == 0 { return false }
            if s == k { return true }
            i = (i + 1) & mask
        }
    }

    @inline(__always)
    mutating func insert(_ key: UInt64) {
        if (count + 1) * 2 > slots.count { grow() }
        let k = key == 0 ? 1 : key
        var i = Int(truncatingIfNeeded: k) & mask
        while slots[i] != 0 {
            if slots[i] == k { return }
            i = (i + 1) & mask
        }
        slots[i] = k
        count += 1
    }

    mutating func removeAll() {
        if slots.count > 1 << 12 && count < slots.count / 8 {
            slots = Array(repeating: 0, count: 1 << 12)
            mask = slots.count - 1
        } else {
            for i in slots.indices { slots[i] = 0 }
        }
        count = 0
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: 0, count: old.count * 2)
        mask = slots.count - 1
        count = 0
        for k in old where k != 0 {
            var i = Int(truncatingIfNeeded: k) & mask
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = k
            count += 1
        }
    }
}
