/// Drops exact duplicates by event id within a span of event time.
///
/// One open-addressing table of (id, generation): an id is a duplicate while its generation is
/// the current or the previous one, so it is remembered for between one and two spans. One probe
/// per event (two separate generation tables would cost two cache misses). Generations rotate when
/// the stream's event time crosses the span, or early when one fills up; a rotation drops the
/// entries that just aged out, so memory stays bounded.
public struct Deduplicator: Sendable {
    struct Slot: Sendable {
        var key: UInt64 = 0
        var generation: UInt32 = 0
    }

    private var slots: [Slot]
    private var mask: Int
    private var live = 0
    private var currentCount = 0
    private var generation: UInt32 = 2
    private let capacity: Int
    private let spanMicros: Int64
    private var generationStart: Int64 = .min
    public private(set) var earlyRotations = 0

    public init(spanSeconds: Int, capacity: Int) {
        spanMicros = Int64(spanSeconds) * 1_000_000
        self.capacity = max(capacity, 16)
        slots = Array(repeating: Slot(), count: 1 << 12)
        mask = (1 << 12) - 1
    }

    public var isEnabled: Bool { spanMicros > 0 }

    /// Starts loading the slot `key` probes first (a cache hint).
    @inline(__always)
    public func prefetch(_ key: UInt64) {
        let i = Int(truncatingIfNeeded: key == 0 ? 1 : key) & mask
        slots.prefetch(i)
    }

    /// True if `key` was seen within the span; otherwise remembers it.
    @inline(__always)
    public mutating func isDuplicate(_ key: UInt64, streamTime: Int64) -> Bool {
        if generationStart == .min { generationStart = streamTime }
        if streamTime - generationStart >= spanMicros {
            rotate(at: streamTime)
        } else if currentCount >= capacity {
            earlyRotations += 1
            rotate(at: streamTime)
        }
        let k = key == 0 ? 1 : key
        var i = Int(truncatingIfNeeded: k) & mask
        while true {
            let s = slots[i]
            if s.key == 0 { break }
            if s.key == k {
                if s.generation &+ 1 >= generation { return true }
                slots[i].generation = generation  // aged out: remembered afresh
                currentCount += 1
                return false
            }
            i = (i + 1) & mask
        }
        slots[i] = Slot(key: k, generation: generation)
        live += 1
        currentCount += 1
        if live * 2 > slots.count { rebuild(size: slots.count * 2) }
        return false
    }

    private mutating func rotate(at time: Int64) {
        generation &+= 1
        generationStart = time
        currentCount = 0
        // Keep only the generation that just ended; shrink when it is small.
        var size = 1 << 12
        var keep = 0
        for s in slots where s.key != 0 && s.generation &+ 1 >= generation { keep += 1 }
        while size < keep * 4 { size <<= 1 }
        rebuild(size: size)
    }

    private mutating func rebuild(size: Int) {
        let old = slots
        slots = Array(repeating: Slot(), count: size)
        mask = size - 1
        live = 0
        for s in old where s.key != 0 && s.generation &+ 1 >= generation {
            var i = Int(truncatingIfNeeded: s.key) & mask
            while slots[i].key != 0 { i = (i + 1) & mask }
            slots[i] = s
            live += 1
        }
    }
}

extension Deduplicator: Codable {}

extension Deduplicator.Slot: RawCodable {}
