/// Predictions whose label is not yet known, with their frozen feature vectors.
///
/// A FIFO in prediction order (sequence numbers), stored in fixed-size blocks of entries
/// (``PendingBlocks``): the ring takes a block from a free list when it reaches a new one and
/// gives it back when its head leaves it, so growing never moves an entry and a store at its cap
/// recycles its blocks without allocating. (It used to grow by doubling, which copied every live
/// entry into fresh arrays: a pause of tens of milliseconds once it held 131,072 entries.)
/// A per-user index (user key → newest pending seq, each entry linking to the same user's
/// previous one) lets a purchase visit only that user's k pending predictions. The index is the
/// store's own, not the engine's user table, so a user evicted from the engine keeps their
/// pending labels.
public struct PendingStore: Sendable {
    public static let width = FeatureVector.capacity
    /// Bytes one entry takes: its block share plus the per-user index, at most 4 slots per entry
    /// (load ≥ 1/4 after a doubling) and 6 while the index doubles.
    static var bytesPerEntry: Int {
        PendingBlocks.bytesPerEntry + 6 * (MemoryLayout<UInt64>.stride + MemoryLayout<Int64>.stride)
    }

    /// Largest number of pending predictions held at once.
    public let capacity: Int
    /// Oldest live seq and next seq to assign; live entries are `head..<next`.
    public private(set) var head: Int64 = 0
    public private(set) var next: Int64 = 0
    private var blocks: PendingBlocks

    /// user key → seq + 1 of the user's newest pending prediction (0 = empty); linear probing.
    private var indexKeys: [UInt64]
    private var indexSeqs: [Int64]
    private var indexMask: Int
    private var indexCount = 0

    /// How many pops ahead ``popOldest()`` starts loading an entry's index slot.
    static let indexPrefetchDistance: Int64 = 8

    public static let positive: UInt8 = 1
    public static let learned: UInt8 = 2
    /// Handed to another engine with its user (partition handover): retired here without a label,
    /// learning or metrics; the new owner resolves it.
    public static let handedOver: UInt8 = 4

    public init(capacity: Int) {
        self.capacity = max(16, capacity)
        blocks = PendingBlocks(capacity: self.capacity)
        let slots = min(Self.powerOfTwo(atLeast: 2 * self.capacity), 4096)
        indexKeys = Array(repeating: 0, count: slots)
        indexSeqs = Array(repeating: 0, count: slots)
        indexMask = slots - 1
    }

    static func powerOfTwo(atLeast n: Int) -> Int {
        var p = 1
        while p < n { p <<= 1 }
        return p
    }

    public var count: Int { Int(next - head) }
    public var isEmpty: Bool { next == head }
    /// Bytes of the blocks allocated so far (live, partly used and free ones).
    var allocatedBytes: Int { blocks.allocatedBytes }

    // MARK: - Entries

    /// Freezes a prediction. The caller pops the oldest first when `count == capacity`.
    public mutating func push(user: UInt64, time: Int64, score: Double, step: Int, features v: borrowing FeatureVector) {
        push(user: user, time: time, score: score, step: step, features: v, indexed: true)
    }

    /// `indexed: false` keeps the entry out of the per-user index (a handed-over entry restored
    /// from a checkpoint: nothing here may label it again).
    private mutating func push(user: UInt64, time: Int64, score: Double, step: Int, features v: borrowing FeatureVector,
                               indexed: Bool) {
        precondition(count < capacity, "PendingStore.push on a full store")
        if !isKnownUniquelyReferenced(&blocks) { blocks = blocks.copy() }
        let seq = next
        let e = blocks.claim(seq)
        e.users[e.offset] = user
        e.times[e.offset] = time
        e.scores[e.offset] = Float(score)
        e.steps[e.offset] = UInt8(truncatingIfNeeded: step)
        e.flags[e.offset] = 0
        let n = min(v.count, Self.width)
        e.counts[e.offset] = UInt8(n)
        let base = e.offset &* Self.width
        v.indices.span.withUnsafeBufferPointer { if let from = $0.baseAddress { (e.indices + base).update(from: from, count: n) } }
        v.values.span.withUnsafeBufferPointer { if let from = $0.baseAddress { (e.values + base).update(from: from, count: n) } }
        if indexed {
            if 2 * (indexCount + 1) > indexKeys.count { growIndex() }
            let (i, found) = find(user)
            e.older[e.offset] = found ? indexSeqs[i] - 1 : -1
            if !found { indexCount += 1 }
            indexKeys[i] = user
            indexSeqs[i] = seq + 1
        } else {
            e.older[e.offset] = -1
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
        if !isKnownUniquelyReferenced(&blocks) { blocks = blocks.copy() }
        return seqs.reversed().map { seq in
            let e = blocks.slot(seq)
            let base = e.offset &* Self.width
            let n = Int(e.counts[e.offset])
            let handed = Handed(user: e.users[e.offset], time: e.times[e.offset], score: e.scores[e.offset],
                                step: e.steps[e.offset], flags: e.flags[e.offset],
                                indices: Array(UnsafeBufferPointer(start: e.indices + base, count: n)),
                                values: Array(UnsafeBufferPointer(start: e.values + base, count: n)))
            blocks.writableSlot(seq).flags[e.offset] |= Self.handedOver
            return handed
        }
    }

    /// Appends a prediction handed over by another engine (after its user's local ones: the ring
    /// is in arrival order here, so it resolves no earlier than its own horizon allows).
    mutating func push(handed e: Handed) {
        let v = Self.vector(indices: e.indices, values: e.values)
        let seq = next
        push(user: e.user, time: e.time, score: Double(e.score), step: Int(e.step), features: v)
        setFlags(seq, e.flags & (Self.positive | Self.learned))
    }

    private static func vector(indices: some Collection<UInt32>, values: some Collection<Float>) -> FeatureVector {
        var v = FeatureVector()
        for (index, value) in zip(indices, values).prefix(FeatureVector.capacity) {
            v.append(index: index, value: value, name: 0)
        }
        return v
    }

    /// The oldest pending prediction, if any.
    public var oldest: Entry? { isEmpty ? nil : entry(head) }

    /// A live entry (`head <= seq < next`).
    @inline(__always)
    public func entry(_ seq: Int64) -> Entry {
        let e = blocks.slot(seq)
        return Entry(seq: seq, user: e.users[e.offset], time: e.times[e.offset], score: Double(e.scores[e.offset]),
                     step: Int(e.steps[e.offset]), flags: e.flags[e.offset])
    }

    /// Copies the frozen features of `seq` into `v` (learning always uses this, never a recomputation).
    @inline(__always)
    public func frozen(_ seq: Int64, into v: inout FeatureVector) {
        let e = blocks.slot(seq)
        let base = e.offset &* Self.width
        v.load(indices: e.indices + base, values: e.values + base, count: Int(e.counts[e.offset]))
    }

    public mutating func setFlags(_ seq: Int64, _ bits: UInt8) {
        if !isKnownUniquelyReferenced(&blocks) { blocks = blocks.copy() }
        let e = blocks.writableSlot(seq)
        e.flags[e.offset] |= bits
    }

    /// Removes the oldest entry (and the user's index entry when it was the user's newest).
    public mutating func popOldest() {
        guard !isEmpty else { return }
        let seq = head
        // Entries leave in order, each with an index lookup for a user not seen for a horizon
        // (a cache miss): start loading the index slot of the entry that leaves a few pops later.
        let ahead = seq &+ Self.indexPrefetchDistance
        if ahead < next {
            let e = blocks.slot(ahead)
            let home = Int(truncatingIfNeeded: StableHash.mix(e.users[e.offset])) & indexMask
            indexKeys.prefetch(home)
            indexSeqs.prefetch(home)
        }
        let (i, found) = find(entry(seq).user)
        if found && indexSeqs[i] == seq + 1 { removeIndex(at: i) }
        head += 1
        if blocks.leaves(from: seq, to: head) {
            if !isKnownUniquelyReferenced(&blocks) { blocks = blocks.copy() }
            blocks.release(chunkOf: seq)
        }
    }

    /// Calls `body` for each live pending prediction of `user`, newest first (O(k)).
    public func forEachPending(of user: UInt64, _ body: (Entry) -> Void) {
        let (i, found) = find(user)
        guard found else { return }
        var seq = indexSeqs[i] - 1
        while seq >= head {
            body(entry(seq))
            let e = blocks.slot(seq)
            seq = e.older[e.offset]
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
        indexCount -= 1
    }

    /// Doubles the per-user index (load stays ≤ 1/2). Only the index moves: 16 bytes per user with
    /// pending predictions, never the entries.
    private mutating func growIndex() {
        let (keys, seqs) = (indexKeys, indexSeqs)
        let slots = keys.count * 2
        indexKeys = Array(repeating: 0, count: slots)
        indexSeqs = Array(repeating: 0, count: slots)
        indexMask = slots - 1
        for k in keys.indices where seqs[k] != 0 {
            let (i, _) = find(keys[k])
            indexKeys[i] = keys[k]
            indexSeqs[i] = seqs[k]
        }
    }
}

// MARK: - Checkpoint form

/// A checkpoint holds the live entries only, oldest first, each with its own number of features;
/// block layout and the per-user index are rebuilt on restore (in seq order, so every user's
/// chain of pending predictions comes back as it was).
extension PendingStore: Codable {
    enum CodingKeys: String, CodingKey {
        case capacity, head, users, times, scores, steps, flags, counts, indices, values
    }

    public func encode(to encoder: any Encoder) throws {
        var users: [UInt64] = [], times: [Int64] = [], scores: [Float] = []
        var steps: [UInt8] = [], flags: [UInt8] = [], counts: [UInt8] = []
        var indices: [UInt32] = [], values: [Float] = []
        for seq in head..<next {
            let e = blocks.slot(seq)
            users.append(e.users[e.offset])
            times.append(e.times[e.offset])
            scores.append(e.scores[e.offset])
            steps.append(e.steps[e.offset])
            flags.append(e.flags[e.offset])
            let n = Int(e.counts[e.offset])
            counts.append(UInt8(n))
            let base = e.offset &* Self.width
            indices.append(contentsOf: UnsafeBufferPointer(start: e.indices + base, count: n))
            values.append(contentsOf: UnsafeBufferPointer(start: e.values + base, count: n))
        }
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(capacity, forKey: .capacity)
        try c.encode(head, forKey: .head)
        try c.encode(users, forKey: .users)
        try c.encode(times, forKey: .times)
        try c.encode(scores, forKey: .scores)
        try c.encode(steps, forKey: .steps)
        try c.encode(flags, forKey: .flags)
        try c.encode(counts, forKey: .counts)
        try c.encode(indices, forKey: .indices)
        try c.encode(values, forKey: .values)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let capacity = try c.decode(Int.self, forKey: .capacity)
        let head = try c.decode(Int64.self, forKey: .head)
        let users = try c.decode([UInt64].self, forKey: .users)
        let times = try c.decode([Int64].self, forKey: .times)
        let scores = try c.decode([Float].self, forKey: .scores)
        let steps = try c.decode([UInt8].self, forKey: .steps)
        let flags = try c.decode([UInt8].self, forKey: .flags)
        let counts = try c.decode([UInt8].self, forKey: .counts)
        let indices = try c.decode([UInt32].self, forKey: .indices)
        let values = try c.decode([Float].self, forKey: .values)
        let n = users.count
        func corrupt(_ what: String) -> DecodingError {
            .dataCorrupted(DecodingError.Context(codingPath: c.codingPath, debugDescription: "pending labels: \(what)"))
        }
        guard capacity >= 16, capacity <= 1 << 26, head >= 0, head <= Int64.max - Int64(capacity) else {
            throw corrupt("capacity \(capacity) or head \(head) out of range")
        }
        guard n <= capacity, [times.count, scores.count, steps.count, flags.count, counts.count].allSatisfy({ $0 == n })
        else { throw corrupt("\(n) entries with mismatched columns or above the capacity \(capacity)") }
        let features = counts.reduce(0) { $0 + Int($1) }
        guard counts.allSatisfy({ Int($0) <= Self.width }), indices.count == features, values.count == features else {
            throw corrupt("feature columns do not match the entries' counts")
        }
        self.init(capacity: capacity)
        self.head = head
        next = head
        var start = 0
        for k in 0..<n {
            let end = start + Int(counts[k])
            let v = Self.vector(indices: indices[start..<end], values: values[start..<end])
            start = end
            let seq = next
            push(user: users[k], time: times[k], score: Double(scores[k]), step: Int(steps[k]), features: v,
                 indexed: flags[k] & Self.handedOver == 0)
            setFlags(seq, flags[k])
        }
    }
}

/// The pending store's entries in fixed-size blocks, one allocation each (see ``PendingStore``).
///
/// Seq `s` lives in chunk `s >> blockShift`; each chunk that holds live entries maps to a block,
/// taken from the free list (or allocated) when the ring first writes to it and returned when the
/// head leaves it. A class, so that blocks change hands without being copied; the store copies it
/// before mutating it when it is shared (copy-on-write), so ``PendingStore`` keeps value
/// semantics. That copy shares the blocks themselves, each copied in turn on its first write while
/// shared: a copy of the engine taken for a checkpoint costs the pipeline only the blocks it writes
/// before the checkpoint is written, not the whole store (tens of MiB). `@unchecked Sendable` on
/// that basis: it is only mutated through a store that holds the sole reference, and a block only
/// when this holds its sole reference.
final class PendingBlocks: @unchecked Sendable {
    /// Bytes per entry: user, time, `older` link, score, features, step, flags and count.
    static var bytesPerEntry: Int { 3 * 8 + 4 + PendingStore.width * 8 + 3 }

    /// One block's memory; shared by copies of the store until one of them writes to it.
    final class Block {
        let base: UnsafeMutableRawPointer

        /// A block with every column initialised to zero (which binds each region to its type).
        init(size: Int) {
            base = UnsafeMutableRawPointer.allocate(byteCount: size * PendingBlocks.bytesPerEntry, alignment: 64)
            let l = Slot.Layout(size: size)
            (base + l.users).initializeMemory(as: UInt64.self, repeating: 0, count: size)
            (base + l.times).initializeMemory(as: Int64.self, repeating: 0, count: size)
            (base + l.older).initializeMemory(as: Int64.self, repeating: -1, count: size)
            (base + l.scores).initializeMemory(as: Float.self, repeating: 0, count: size)
            (base + l.indices).initializeMemory(as: UInt32.self, repeating: 0, count: size * PendingStore.width)
            (base + l.values).initializeMemory(as: Float.self, repeating: 0, count: size * PendingStore.width)
            (base + l.steps).initializeMemory(as: UInt8.self, repeating: 0, count: 3 * size)
        }

        /// A copy of `other`'s columns, bound to the same types.
        init(copying other: Block, size: Int) {
            base = UnsafeMutableRawPointer.allocate(byteCount: size * PendingBlocks.bytesPerEntry, alignment: 64)
            let l = Slot.Layout(size: size)
            func copy<T>(_ type: T.Type, at offset: Int, count: Int) {
                (base + offset).initializeMemory(as: T.self, from: (other.base + offset).assumingMemoryBound(to: T.self),
                                                 count: count)
            }
            copy(UInt64.self, at: l.users, count: size)
            copy(Int64.self, at: l.times, count: size)
            copy(Int64.self, at: l.older, count: size)
            copy(Float.self, at: l.scores, count: size)
            copy(UInt32.self, at: l.indices, count: size * PendingStore.width)
            copy(Float.self, at: l.values, count: size * PendingStore.width)
            copy(UInt8.self, at: l.steps, count: 3 * size)
        }

        deinit { base.deallocate() }
    }

    let blockShift: Int
    var blockSize: Int { 1 << blockShift }
    // Read for every entry touched: `@exclusivity(unchecked)` spares each read the runtime's
    // dynamic exclusivity check (a class's stored properties get one); no method here re-enters
    // another while mutating these.
    /// Block id of each chunk, by chunk number modulo the count (a power of two); -1 = none.
    @exclusivity(unchecked) private var chunkBlocks: [Int32]
    /// The blocks by id, and their memory (reads take the address without touching the owner).
    @exclusivity(unchecked) private var owners: [Block] = []
    @exclusivity(unchecked) private var bases: [UnsafeMutableRawPointer] = []
    @exclusivity(unchecked) private var free: [Int32] = []

    /// Entries per block: an eighth of the capacity (rounded up to a power of two), at least 16
    /// and at most 2,048 (1 MiB), so a store never holds much more than its cap.
    static func blockSize(capacity: Int) -> Int {
        min(max(PendingStore.powerOfTwo(atLeast: capacity) / 8, 16), 2048)
    }

    /// Entries in the blocks a store of `capacity` can hold at once: the cap's blocks and one
    /// more, as the head's block may be partly used.
    static func maxEntries(capacity: Int) -> Int {
        let size = blockSize(capacity: capacity)
        return ((capacity + size - 1) / size + 1) * size
    }

    init(capacity: Int) {
        let size = Self.blockSize(capacity: capacity)
        blockShift = size.trailingZeroBitCount
        chunkBlocks = Array(repeating: -1, count: PendingStore.powerOfTwo(atLeast: Self.maxEntries(capacity: capacity) / size))
    }

    /// Shares every block with `other`.
    private init(sharing other: PendingBlocks) {
        blockShift = other.blockShift
        chunkBlocks = other.chunkBlocks
        free = other.free
        owners = other.owners
        bases = other.bases
    }

    func copy() -> PendingBlocks { PendingBlocks(sharing: self) }

    var allocatedBytes: Int { owners.count * blockSize * Self.bytesPerEntry }

    @inline(__always) private func chunk(_ seq: Int64) -> Int { Int(truncatingIfNeeded: seq >> Int64(blockShift)) & (chunkBlocks.count - 1) }

    /// The slot of a seq whose chunk has a block (a live entry, or the next one once claimed), to read.
    @inline(__always)
    func slot(_ seq: Int64) -> Slot {
        let id = Int(chunkBlocks[chunk(seq)])
        return Slot(base: bases[id], offset: Int(truncatingIfNeeded: seq) & (blockSize - 1), size: blockSize)
    }

    /// The same slot, to write: its block is copied first if another store shares it.
    @inline(__always)
    func writableSlot(_ seq: Int64) -> Slot {
        let id = Int(chunkBlocks[chunk(seq)])
        if !isKnownUniquelyReferenced(&owners[id]) { unshare(id) }
        return Slot(base: bases[id], offset: Int(truncatingIfNeeded: seq) & (blockSize - 1), size: blockSize)
    }

    @inline(never)
    private func unshare(_ id: Int) {
        let block = Block(copying: owners[id], size: blockSize)
        owners[id] = block
        bases[id] = block.base
    }

    /// The slot for a new entry, to write, giving its chunk a block if it has none yet.
    @inline(__always)
    func claim(_ seq: Int64) -> Slot {
        let c = chunk(seq)
        if chunkBlocks[c] < 0 {
            if let id = free.popLast() {
                chunkBlocks[c] = id
            } else {
                let block = Block(size: blockSize)
                chunkBlocks[c] = Int32(owners.count)
                owners.append(block)
                bases.append(block.base)
            }
        }
        return writableSlot(seq)
    }

    /// Whether moving the head from `old` to `new` leaves `old`'s chunk.
    @inline(__always)
    func leaves(from old: Int64, to new: Int64) -> Bool { old >> Int64(blockShift) != new >> Int64(blockShift) }

    /// Returns the block of `seq`'s chunk to the free list (the head has left it).
    func release(chunkOf seq: Int64) {
        let c = chunk(seq)
        guard chunkBlocks[c] >= 0 else { return }
        free.append(chunkBlocks[c])
        chunkBlocks[c] = -1
    }

    /// Typed views of one entry's columns in its block.
    struct Slot {
        /// Byte offsets of the columns in a block of `size` entries (8-byte columns first).
        struct Layout {
            let users: Int, times: Int, older: Int, scores: Int, indices: Int, values: Int, steps: Int
            @inline(__always)
            init(size: Int) {
                users = 0
                times = 8 * size
                older = 16 * size
                scores = 24 * size
                indices = 28 * size
                values = indices + 4 * PendingStore.width * size
                steps = values + 4 * PendingStore.width * size
            }
        }

        let base: UnsafeMutableRawPointer
        let offset: Int
        let size: Int

        @inline(__always) private var layout: Layout { Layout(size: size) }
        @inline(__always) var users: UnsafeMutablePointer<UInt64> { (base + layout.users).assumingMemoryBound(to: UInt64.self) }
        @inline(__always) var times: UnsafeMutablePointer<Int64> { (base + layout.times).assumingMemoryBound(to: Int64.self) }
        @inline(__always) var older: UnsafeMutablePointer<Int64> { (base + layout.older).assumingMemoryBound(to: Int64.self) }
        @inline(__always) var scores: UnsafeMutablePointer<Float> { (base + layout.scores).assumingMemoryBound(to: Float.self) }
        @inline(__always) var indices: UnsafeMutablePointer<UInt32> {
            (base + layout.indices).assumingMemoryBound(to: UInt32.self)
        }
        @inline(__always) var values: UnsafeMutablePointer<Float> { (base + layout.values).assumingMemoryBound(to: Float.self) }
        @inline(__always) var steps: UnsafeMutablePointer<UInt8> { (base + layout.steps).assumingMemoryBound(to: UInt8.self) }
        @inline(__always) var flags: UnsafeMutablePointer<UInt8> { steps + size }
        @inline(__always) var counts: UnsafeMutablePointer<UInt8> { steps + 2 * size }
    }
}
