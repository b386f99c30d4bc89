import CPrefetch

/// Per-user state for every tracked user: a slab of fixed-size ``UserRecord``s, an open-addressing
/// index (user key → slot), and an activity list for TTL and capacity eviction.
///
/// The least recently active user sits at the head of the list. Eviction happens in event time
/// (TTL against the watermark) and when the hard cap is reached, never on wall clock.
///
/// The list links live in their own array of 8-byte entries, not in the records: moving a user to
/// the tail rewrites its neighbours' links, and two neighbours in a compact array are far cheaper
/// to reach than two 224-byte records scattered over the slab.
public struct UserStore: Sendable {
    struct Links: Sendable {
        var prev: UInt32 = .max
        var next: UInt32 = .max
    }

    /// The records by slot, in chunks shared with a copy of the engine until written (so a
    /// checkpoint's copy costs the pipeline only the chunks it writes before the copy is encoded).
    private(set) var records = ChunkedSlab<UserRecord>()
    /// Activity-list links, one per slot of `records`.
    private var links: [Links] = []
    private var freeSlots: [UInt32] = []
    /// Open addressing, linear probing, power-of-two size, load ≤ 0.5. An entry is slot+1 in its
    /// low `slotBits` bits (0 = empty) and, above them, the top bits of the user's key: a probe
    /// passes other users' entries without loading their records (a cache miss each), so the
    /// one record a lookup loads is, but for a tag collision, the user's own.
    private var index: [UInt32]
    private var mask: Int
    /// Bits for slot+1: enough for `capacity` (the slab never holds more records).
    private let slotBits: Int
    private var head: UInt32 = .max
    private var tail: UInt32 = .max
    public let capacity: Int
    public private(set) var count = 0
    public private(set) var evictedIdle = 0
    public private(set) var evictedCapacity = 0

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        slotBits = min(32, Int.bitWidth - self.capacity.leadingZeroBitCount)
        let size = 16
        index = Array(repeating: 0, count: size)
        mask = size - 1
    }

    /// Reserves the slab for `count` records (no page is touched until a record is written).
    mutating func reserveRecords(_ count: Int) {
        records.reserveCapacity(min(count, capacity))
        links.reserveCapacity(min(count, capacity))
    }

    /// Bytes in use per tracked user: the slab up to the highest slot ever written (free slots
    /// included) and the index. Slab capacity reserved but never written is left out: its pages
    /// are never touched.
    public var bytesPerUser: Double {
        guard count > 0 else { return Double(Self.recordBytes) }
        let slab = Double(records.count * Self.recordBytes)
        let idx = Double(index.count * MemoryLayout<UInt32>.stride)
        return (slab + idx) / Double(count)
    }

    /// A record and its activity-list links.
    public static var recordBytes: Int { MemoryLayout<UserRecord>.stride + MemoryLayout<Links>.stride }

    /// State per tracked user: its record and links plus its share of the index (no allocation slack).
    public var stateBytesPerUser: Double {
        Double(Self.recordBytes) + Double(index.count * MemoryLayout<UInt32>.stride) / Double(max(count, 1))
    }

    @inline(__always)
    private var slotMask: UInt32 { slotBits >= 32 ? .max : (1 << UInt32(slotBits)) - 1 }

    /// `key`'s tag, in place above the slot bits.
    @inline(__always)
    private func tag(_ key: UInt64) -> UInt32 {
        guard slotBits < 32 else { return 0 }
        return UInt32(truncatingIfNeeded: key >> UInt64(32 + slotBits)) << UInt32(slotBits)
    }

    /// The slot of a non-empty index entry.
    @inline(__always)
    private func slot(entry: UInt32) -> Int { Int(entry & slotMask) - 1 }

    /// Starts loading the index entry `key` probes first (a cache hint).
    @inline(__always)
    public func prefetch(_ key: UInt64) {
        let i = Int(truncatingIfNeeded: key) & mask
        index.prefetch(i)
    }

    /// Starts loading the record (all its cache lines) and the links of the user whose tag
    /// `key`'s probe meets first: a hint, issued once the index entry itself has arrived, with
    /// independent work to do before the record is needed.
    @inline(__always)
    public func prefetchRecord(_ key: UInt64) {
        let t = tag(key)
        let tagMask = ~slotMask
        var i = Int(truncatingIfNeeded: key) & mask
        var entry = index[i]
        while entry != 0 && entry & tagMask != t {
            i = (i + 1) & mask
            entry = index[i]
        }
        guard entry != 0 else { return }
        let slot = slot(entry: entry)
        guard slot >= 0, slot < records.count else { return }
        // Every line the record touches (five when it straddles one more).
        let address = UInt(bitPattern: records.address(of: slot))
        let first = address & ~63
        let last = (address + UInt(MemoryLayout<UserRecord>.stride) - 1) & ~63
        for line in stride(from: first, through: last, by: 64) {
            if let p = UnsafeRawPointer(bitPattern: line) { fp_prefetch(p) }
        }
        links.prefetch(slot)
    }

    @inline(__always)
    public func slot(of key: UInt64) -> Int? { probe(key).slot }

    /// Where `key`'s probe ends: its user's slot, or (not found) the empty index position.
    @inline(__always)
    private func probe(_ key: UInt64) -> (position: Int, slot: Int?) {
        let t = tag(key)
        let tagMask = ~slotMask
        var i = Int(truncatingIfNeeded: key) & mask
        while true {
            let entry = index[i]
            if entry == 0 { return (i, nil) }
            if entry & tagMask == t {
                let slot = slot(entry: entry)
                if records[slot].key == key { return (i, slot) }
            }
            i = (i + 1) & mask
        }
    }

    /// The slot for `key`, creating the user if needed. `isNew` tells which.
    /// At capacity, the least recently active user is evicted first (counted).
    @inline(__always)
    public mutating func findOrInsert(_ key: UInt64) -> (slot: Int, isNew: Bool) {
        let (i, found) = probe(key)
        if let found {
            touch(found)
            return (found, false)
        }
        if count >= capacity, head != .max {
            remove(slot: Int(head))
            evictedCapacity += 1
            return findOrInsert(key)
        }
        if (count + 1) * 2 > index.count {
            grow()
            return findOrInsert(key)
        }
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = Int(free)
            records[slot] = UserRecord()
        } else {
            slot = records.count
            if links.count == links.capacity {
                // Grow by a quarter rather than doubling (the records grow a chunk at a time).
                links.reserveCapacity(links.count + max(4096, links.count / 4))
            }
            records.append(UserRecord())
            links.append(Links())
        }
        records[slot].key = key
        index[i] = tag(key) | UInt32(slot + 1)
        count += 1
        linkAtTail(slot)
        return (slot, true)
    }

    /// Evicts users whose latest event is older than `before` (µs), oldest activity first.
    public mutating func evictIdle(before: Int64, limit: Int = .max) {
        var n = 0
        while head != .max, n < limit {
            let slot = Int(head)
            guard records[slot].lastSeen < before else { return }
            remove(slot: slot)
            evictedIdle += 1
            n += 1
        }
    }

    @inline(__always)
    public subscript(slot: Int) -> UserRecord {
        get { records[slot] }
        _modify { yield &records[slot] }
    }

    // MARK: - Activity list

    @inline(__always)
    private mutating func touch(_ slot: Int) {
        guard UInt32(slot) != tail else { return }
        unlink(slot)
        linkAtTail(slot)
    }

    @inline(__always)
    private mutating func linkAtTail(_ slot: Int) {
        let s = UInt32(slot)
        links[slot] = Links(prev: tail, next: .max)
        if tail != .max { links[Int(tail)].next = s } else { head = s }
        tail = s
    }

    @inline(__always)
    private mutating func unlink(_ slot: Int) {
        let l = links[slot]
        if l.prev != .max { links[Int(l.prev)].next = l.next } else { head = l.next }
        if l.next != .max { links[Int(l.next)].prev = l.prev } else { tail = l.prev }
    }

    // MARK: - Index maintenance

    private mutating func remove(slot: Int) {
        let key = records[slot].key
        unlink(slot)
        var i = Int(truncatingIfNeeded: key) & mask
        while self.slot(entry: index[i]) != slot { i = (i + 1) & mask }
        // Backward-shift deletion keeps probe sequences intact without tombstones.
        var hole = i
        var j = (i + 1) & mask
        while index[j] != 0 {
            let home = Int(truncatingIfNeeded: records[self.slot(entry: index[j])].key) & mask
            let distanceToJ = (j - home) & mask
            let distanceToHole = (hole - home) & mask
            if distanceToHole < distanceToJ {
                index[hole] = index[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        index[hole] = 0
        records[slot].key = 0
        freeSlots.append(UInt32(slot))
        count -= 1
    }

    private mutating func grow() {
        let size = index.count * 2
        var fresh = [UInt32](repeating: 0, count: size)
        let m = size - 1
        for entry in index where entry != 0 {
            var i = Int(truncatingIfNeeded: records[slot(entry: entry)].key) & m
            while fresh[i] != 0 { i = (i + 1) & m }
            fresh[i] = entry
        }
        index = fresh
        mask = m
    }

    // MARK: - Partition handover

    /// Removes and returns the users `belongs` selects, in activity order (oldest first). Not an
    /// eviction: the users are handed to another engine, so no eviction counter moves.
    mutating func take(where belongs: (UserRecord) -> Bool) -> [UserRecord] {
        var out: [UserRecord] = []
        var s = head
        while s != .max {
            let slot = Int(s)
            s = links[slot].next
            guard belongs(records[slot]) else { continue }
            out.append(records[slot])
            remove(slot: slot)
        }
        return out
    }

    /// Inserts users handed over by another engine. A user already tracked here keeps the record
    /// with the newer `lastSeen` (ties: the local one): the local record can only be newer if the
    /// user's events arrived here through another partition since, and then it is the one that
    /// continues. Imported users are placed in the activity list by `lastSeen` (one merge pass),
    /// so idle eviction meets them when it would have on the old owner. At capacity the least
    /// recently active users are evicted as usual (counted).
    /// - Returns: how many imported records were kept (the rest lost to a newer local record).
    mutating func insert(handedOver incoming: [UserRecord], source: Int32) -> Int {
        var placed: [Int] = []
        placed.reserveCapacity(incoming.count)
        for record in incoming.sorted(by: { $0.lastSeen < $1.lastSeen }) {
            if let local = slot(of: record.key), records[local].lastSeen >= record.lastSeen { continue }
            let (slot, _) = findOrInsert(record.key)
            var copy = record
            copy.source = source
            records[slot] = copy
            placed.append(slot)
        }
        guard !placed.isEmpty else { return 0 }
        // Capacity eviction may have recycled a slot placed earlier in this call: keep only the
        // slots that still hold their imported user, newest placement winning.
        var seen = Set<Int>()
        var live: [Int] = []
        for slot in placed.reversed() where records[slot].key != 0 && seen.insert(slot).inserted { live.append(slot) }
        live.sort { records[$0].lastSeen < records[$1].lastSeen }
        for slot in live { unlink(slot) }
        var cursor = head
        for slot in live {
            let time = records[slot].lastSeen
            while cursor != .max, records[Int(cursor)].lastSeen <= time { cursor = links[Int(cursor)].next }
            if cursor == .max {
                linkAtTail(slot)
            } else {
                linkBefore(slot, Int(cursor))
            }
        }
        return live.count
    }

    private mutating func linkBefore(_ slot: Int, _ next: Int) {
        let s = UInt32(slot)
        let prev = links[next].prev
        links[slot] = Links(prev: prev, next: UInt32(next))
        links[next].prev = s
        if prev != .max { links[Int(prev)].next = s } else { head = s }
    }

    /// All tracked users' slots in activity order (oldest first); for checkpoints and tests.
    public func slotsInActivityOrder() -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(count)
        var s = head
        while s != .max {
            out.append(Int(s))
            s = links[Int(s)].next
        }
        return out
    }
}

extension UserStore: Codable {}

extension UserStore.Links: RawCodable {}
