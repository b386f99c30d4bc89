/// Predictions whose label is not yet known, with their frozen feature vectors.
///
/// A FIFO ring in prediction order (sequence numbers; slot = seq mod size), growing by doubling up
/// to `capacity` so small streams stay small and the steady state allocates nothing. A per-user
/// index (user key → newest pending seq, each entry linking to the same user's previous one)
/// lets a purchase visit only that user's k pending predictions. The index is the store's own, not
/// the engine's user table, so a user evicted from the engine keeps their pending labels.
public struct PendingStore: Sendable {
    public static let width = FeatureVector.capacity
    /// Bytes one ring entry takes across the parallel arrays, its index share included (two
    /// index slots per entry).
    static var bytesPerEntry: Int {
        3 * MemoryLayout<Int64>.stride + MemoryLayout<Float>.stride + 3 + width * (MemoryLayout<UInt32>.stride
            + MemoryLayout<Float>.stride) + 2 * (MemoryLayout<UInt64>.stride + MemoryLayout<Int64>.stride)
    }

    /// Largest number of pending predictions held at once.
    public let capacity: Int
    private var size: Int
    /// Oldest live seq and next seq to assign; live entries are `head..<next`.
    public private(set) var head: Int64 = 0
    public private(set) var next: Int64 = 0

    private var users: [UInt64]
    private var times: [Int64]
    private var older: [Int64]
    private var scores: [Float]
    private var steps: [UInt8]
    private var flags: [UInt8]
    private var counts: [UInt8]
    private var indices: [UInt32]
    private var values: [Float]

    /// user key → seq + 1 of the user's newest pending prediction (0 = empty); linear probing.
    private var indexKeys: [UInt64]
    private var indexSeqs: [Int64]
    private var indexMask: Int

    public static let positive: UInt8 = 1
    public static let learned: UInt8 = 2
    /// Handed to another engine with its user (partition handover): retired here without a label,
    /// learning or metrics; the new owner resolves it.
    public static let handedOver: UInt8 = 4

    public init(capacity: Int) {
        self.capacity = max(16, capacity)
        size = min(Self.powerOfTwo(atLeast: self.capacity), 4096)
        users = Array(repeating: 0, count: size)
        times = Array(repeating: 0, count: size)
        older = Array(repeating: -1, count: size)
        scores = Array(repeating: 0, count: size)
        steps = Array(repeating: 0, count: size)
        flags = Array(repeating: 0, count: size)
        counts = Array(repeating: 0, count: size)
        indices = Array(repeating: 0, count: size * Self.width)
        values = Array(repeating: 0, count: size * Self.width)
        indexKeys = Array(repeating: 0, count: size * 2)
        indexSeqs = Array(repeating: 0, count: size * 2)
        indexMask = size * 2 - 1
    }

    static func powerOfTwo(atLeast n: Int) -> Int {
        var p = 1
        while p < n { p <<= 1 }
        return p
    }

    public var count: Int { Int(next - head) }
    public var isEmpty: Bool { next == head }
    @inline(__always) private func slot(_ seq: Int64) -> Int { Int(seq) & (size - 1) }

    // MARK: - Entries

    /// Freezes a prediction. The caller pops the oldest first when `count == capacity`.
    public mutating func push(user: UInt64, time: Int64, score: Double, step: Int, features v: borrowing FeatureVector) {
        push(user: user, time: time, score: score, step: step, features: v, indexed: true)
    }

    /// `indexed: false` keeps the entry out of the per-user index (a handed-over entry moved by
    /// ``grow()``: nothing here may label it again).
    private mutating func push(user: UInt64, time: Int64, score: Double, step: Int, features v: borrowing FeatureVector,
                               indexed: Bool) {
        if count == size { grow() }
        let seq = next
        let s = slot(seq)
        users[s] = user
        times[s] = time
        scores[s] = Float(score)
        steps[s] = UInt8(truncatingIfNeeded: step)
        flags[s] = 0
        counts[s] = UInt8(v.count)
        let base = s * Self.width
        let n = min(v.count, Self.width)
        v.indices.span.withUnsafeBufferPointer { src in
            indices.withUnsafeMutableBufferPointer { dst in
                guard let d = dst.baseAddress, let from = src.baseAddress else { return }
                (d + base).update(from: from, count: n)
            }
        }
        v.values.span.withUnsafeBufferPointer { src in
            values.withUnsafeMutableBufferPointer { dst in
                guard let d = dst.baseAddress, let from = src.baseAddress else { return }
                (d + base).update(from: from, count: n)
            }
        }
        if indexed {
            let (i, found) = find(user)
            older[s] = found ? indexSeqs[i] - 1 : -1
            indexKeys[i] = user
            indexSeqs[i] = seq + 1
        } else {
            older[s] = -1
        }
        next += 1
    }

    public struct Entry: Sendable {
        public var seq: Int64
        public var user: UInt64
        public var time: Int64
        public var score: Double
        public var step: Int
        public var flags: UInt8
        public var isPositive: Bool { flags & PendingStore.positive != 0 }
        public var isLearned: Bool { flags & PendingStore.learned != 0 }
        public var isHandedOver: Bool { flags & PendingStore.handedOver != 0 }
    }

    /// A pending prediction as it moves between engines with its user.
    struct Handed: Codable, Sendable {
        var user: UInt64
        var time: Int64
        var score: Float
        var step: UInt8
        var flags: UInt8
        var indices: [UInt32]
        var values: [Float]
    }

    /// Detaches every pending prediction of `user`: they stay in the ring (a FIFO cannot drop
    /// from the middle) flagged ``handedOver`` and leave the user's index, so nothing here labels
    /// them again. Oldest first.
    mutating func handOver(user: UInt64) -> [Handed] {
        let (i, found) = find(user)
        guard found else { return [] }
        var seqs: [Int64] = []
        collect(of: user, into: &seqs)
        removeIndex(at: i)
        return seqs.reversed().map { seq in
            let s = slot(seq)
            let base = s * Self.width
            let n = Int(counts[s])
            let handed = Handed(user: users[s], time: times[s], score: scores[s], step: steps[s], flags: flags[s],
                                indices: Array(indices[base..<(base + n)]), values: Array(values[base..<(base + n)]))
            flags[s] |= Self.handedOver
            return handed
        }
    }

    /// Appends a prediction handed over by another engine (after its user's local ones: the ring
    /// is in arrival order here, so it resolves no earlier than its own horizon allows).
    mutating func push(handed e: Handed) {
        var v = FeatureVector()
        for k in 0..<min(e.indices.count, e.values.count, FeatureVector.capacity) {
            v.append(index: e.indices[k], value: e.values[k], name: 0)
        }
        let seq = next
        push(user: e.user, time: e.time, score: Double(e.score), step: Int(e.step), features: v)
        flags[slot(seq)] = e.flags & (Self.positive | Self.learned)
    }

    /// The oldest pending prediction, if any.
    public var oldest: Entry? { isEmpty ? nil : entry(head) }

    @inline(__always)
    public func entry(_ seq: Int64) -> Entry {
        let s = slot(seq)
        return Entry(seq: seq, user: users[s], time: times[s], score: Double(scores[s]), step: Int(steps[s]),
                     flags: flags[s])
    }

    /// Copies the frozen features of `seq` into `v` (learning always uses this, never a recomputation).
    @inline(__always)
    public func frozen(_ seq: Int64, into v: inout FeatureVector) {
        let s = slot(seq)
        let base = s * Self.width
        let n = Int(counts[s])
        indices.withUnsafeBufferPointer { i in
            values.withUnsafeBufferPointer { x in
                guard let ib = i.baseAddress, let xb = x.baseAddress else { return v.removeAll() }
                v.load(indices: ib + base, values: xb + base, count: n)
            }
        }
    }

    public mutating func setFlags(_ seq: Int64, _ bits: UInt8) { flags[slot(seq)] |= bits }

    /// Removes the oldest entry (and the user's index entry when it was the user's newest).
    public mutating func popOldest() {
        guard !isEmpty else { return }
        let seq = head
        let (i, found) = find(users[slot(seq)])
        if found && indexSeqs[i] == seq + 1 { removeIndex(at: i) }
        head += 1
    }

    /// Calls `body` for each live pending prediction of `user`, newest first (O(k)).
    public func forEachPending(of user: UInt64, _ body: (Entry) -> Void) {
        let (i, found) = find(user)
        guard found else { return }
        var seq = indexSeqs[i] - 1
        while seq >= head {
            body(entry(seq))
            seq = older[slot(seq)]
        }
    }

    /// Replaces `seqs` with the live pending predictions of `user`, newest first (O(k), and no
    /// allocation once `seqs` has grown to the largest k seen).
    public func collect(of user: UInt64, into seqs: inout [Int64]) {
        seqs.removeAll(keepingCapacity: true)
        forEachPending(of: user) { seqs.append($0.seq) }
    }

    // MARK: - Per-user index

    @inline(__always)
    private func find(_ key: UInt64) -> (Int, Bool) {
        var i = Int(truncatingIfNeeded: StableHash.mix(key)) & indexMask
        while indexSeqs[i] != 0 {
            if indexKeys[i] == key { return (i, true) }
            i = (i + 1) & indexMask
        }
        return (i, false)
    }

    /// Backward-shift deletion: probe chains stay intact without tombstones.
    private mutating func removeIndex(at start: Int) {
        var hole = start
        var j = (start + 1) & indexMask
        while indexSeqs[j] != 0 {
            let home = Int(truncatingIfNeeded: StableHash.mix(indexKeys[j])) & indexMask
            if (hole - home) & indexMask < (j - home) & indexMask {
                indexKeys[hole] = indexKeys[j]
                indexSeqs[hole] = indexSeqs[j]
                hole = j
            }
            j = (j + 1) & indexMask
        }
        indexSeqs[hole] = 0
        indexKeys[hole] = 0
    }

    /// Doubles the ring (rare, amortised): entries move to their slot under the new size.
    private mutating func grow() {
        let newSize = size * 2
        var fresh = PendingStore(capacity: capacity)
        fresh.size = newSize
        fresh.users = Array(repeating: 0, count: newSize)
        fresh.times = Array(repeating: 0, count: newSize)
        fresh.older = Array(repeating: -1, count: newSize)
        fresh.scores = Array(repeating: 0, count: newSize)
        fresh.steps = Array(repeating: 0, count: newSize)
        fresh.flags = Array(repeating: 0, count: newSize)
        fresh.counts = Array(repeating: 0, count: newSize)
        fresh.indices = Array(repeating: 0, count: newSize * Self.width)
        fresh.values = Array(repeating: 0, count: newSize * Self.width)
        fresh.indexKeys = Array(repeating: 0, count: newSize * 2)
        fresh.indexSeqs = Array(repeating: 0, count: newSize * 2)
        fresh.indexMask = newSize * 2 - 1
        fresh.head = head
        fresh.next = head
        var v = FeatureVector()
        for seq in head..<next {
            let e = entry(seq)
            frozen(seq, into: &v)
            fresh.push(user: e.user, time: e.time, score: e.score, step: e.step, features: v, indexed: !e.isHandedOver)
            fresh.flags[fresh.slot(seq)] = e.flags
        }
        self = fresh
    }
}

extension PendingStore: Codable {}
