import Testing
@testable import FunnelCore

/// The pending-label store on its own: a FIFO over fixed-size blocks with a per-user index,
/// checked against a plain array that does the same bookkeeping the slow way.
struct PendingStoreTests {
    /// What the store should hold: live entries in seq order.
    struct Reference {
        struct Item {
            var seq: Int64
            var user: UInt64
            var time: Int64
            var flags: UInt8
            var indices: [UInt32]
        }
        var items: [Item] = []
        var next: Int64 = 0

        func pending(of user: UInt64) -> [Int64] {
            items.filter { $0.user == user && $0.flags & PendingStore.handedOver == 0 }.map(\.seq).reversed()
        }
    }

    static func vector(seq: Int64, count: Int) -> FeatureVector {
        var v = FeatureVector()
        for k in 0..<count { v.append(index: UInt32(truncatingIfNeeded: seq &* 131 &+ Int64(k)), value: Float(k + 1), name: 0) }
        return v
    }

    static func indices(of v: FeatureVector) -> [UInt32] { (0..<v.count).map { v.indices[$0] } }

    /// Pushes (popping first when full), pops, flags and hands users over at random, and compares
    /// every live entry, its frozen features and every user's chain with the reference.
    static func churn(_ store: inout PendingStore, _ reference: inout Reference, steps: Int, users: UInt64,
                      seed: UInt64) {
        var rng = SimRandom(seed: seed)
        for _ in 0..<steps {
            let roll = rng.next() % 100
            if roll < 70 {
                if store.count == store.capacity {
                    store.popOldest()
                    reference.items.removeFirst()
                }
                let user = 1 + rng.next() % users
                let seq = store.next
                let n = Int(rng.next() % 65)
                store.push(user: user, time: seq * 1000, score: 0.5, step: 1, features: vector(seq: seq, count: n))
                reference.items.append(.init(seq: seq, user: user, time: seq * 1000, flags: 0,
                                             indices: Self.indices(of: Self.vector(seq: seq, count: n))))
                reference.next += 1
            } else if roll < 93 {
                store.popOldest()
                if !reference.items.isEmpty { reference.items.removeFirst() }
            } else if roll < 98, !reference.items.isEmpty {
                let k = Int(rng.next() % UInt64(reference.items.count))
                store.setFlags(reference.items[k].seq, PendingStore.positive)
                reference.items[k].flags |= PendingStore.positive
            } else {
                let user = 1 + rng.next() % users
                let handed = store.handOver(user: user)
                let mine = reference.pending(of: user).reversed()
                #expect(handed.map(\.time) == mine.map { $0 * 1000 })
                for k in reference.items.indices where reference.items[k].user == user {
                    reference.items[k].flags |= PendingStore.handedOver
                }
            }
        }
    }

    static func expectSame(_ store: PendingStore, _ reference: Reference, users: UInt64) {
        #expect(store.count == reference.items.count)
        #expect(store.next == reference.next)
        var v = FeatureVector()
        for item in reference.items {
            let e = store.entry(item.seq)
            #expect(e.user == item.user && e.time == item.time && e.flags == item.flags)
            store.frozen(item.seq, into: &v)
            #expect(Self.indices(of: v) == item.indices)
        }
        var seqs: [Int64] = []
        for user in 1...users {
            store.collect(of: user, into: &seqs)
            #expect(seqs == reference.pending(of: user), "user \(user)")
        }
    }

    @Test func aStoreOverManyBlocksMatchesTheReference() {
        // 10,000 entries span 6 blocks of 2,048 and the churn wraps the chunk ring many times.
        var store = PendingStore(capacity: 10_000)
        var reference = Reference()
        Self.churn(&store, &reference, steps: 200_000, users: 3_000, seed: 7)
        Self.expectSame(store, reference, users: 3_000)
        #expect(reference.items.count > 2_048, "the churn should leave several blocks live")
    }

    @Test func aSmallStoreUsesBlocksOfItsOwnSize() {
        var store = PendingStore(capacity: 16)
        var reference = Reference()
        Self.churn(&store, &reference, steps: 5_000, users: 5, seed: 3)
        Self.expectSame(store, reference, users: 5)
        #expect(store.allocatedBytes <= PendingBlocks.maxEntries(capacity: 16) * PendingBlocks.bytesPerEntry)
        #expect(PendingBlocks.maxEntries(capacity: 16) == 32)
    }

    @Test func aFullStoreRecyclesItsBlocks() {
        var store = PendingStore(capacity: 8_192)
        #expect(PendingBlocks.blockSize(capacity: 8_192) == 1_024)
        for seq in Int64(0)..<8_192 {
            store.push(user: UInt64(seq % 97), time: seq, score: 0, step: 0, features: Self.vector(seq: seq, count: 8))
        }
        let full = store.allocatedBytes
        for seq in Int64(8_192)..<100_000 {
            store.popOldest()
            store.push(user: UInt64(seq % 97), time: seq, score: 0, step: 0, features: Self.vector(seq: seq, count: 8))
        }
        #expect(store.count == 8_192)
        // The cap fills 8 blocks; a head inside a block needs one more, and never a tenth.
        #expect(full == 8 * 1_024 * PendingBlocks.bytesPerEntry)
        #expect(store.allocatedBytes == 9 * 1_024 * PendingBlocks.bytesPerEntry)
        #expect(store.allocatedBytes == PendingBlocks.maxEntries(capacity: 8_192) * PendingBlocks.bytesPerEntry)
    }

    @Test func copiesAreIndependent() {
        var a = PendingStore(capacity: 4_096)
        for seq in Int64(0)..<3_000 {
            a.push(user: UInt64(seq % 10), time: seq, score: 0, step: 0, features: Self.vector(seq: seq, count: 4))
        }
        let b = a
        for _ in 0..<2_500 { a.popOldest() }
        a.setFlags(2_999, PendingStore.positive)
        for seq in Int64(3_000)..<5_000 {
            a.push(user: UInt64(seq % 10), time: -seq, score: 0, step: 0, features: Self.vector(seq: seq, count: 4))
        }
        #expect(b.count == 3_000 && b.head == 0)
        #expect(b.entry(2_999).flags == 0)
        #expect(b.entry(0).time == 0 && b.entry(2_048).time == 2_048)
        var seqs: [Int64] = []
        b.collect(of: 3, into: &seqs)
        #expect(seqs.count == 300 && seqs.first == 2_993)
        #expect(a.entry(4_999).time == -4_999)
    }

    /// A copy shares the blocks until one side writes to one (a checkpoint's copy of the engine
    /// relies on it): pushes into recycled blocks, flags, handovers and pops on either side never
    /// show on the other.
    @Test func copiesShareBlocksUntilEitherSideWrites() {
        var store = PendingStore(capacity: 10_000)
        var reference = Reference()
        Self.churn(&store, &reference, steps: 60_000, users: 2_000, seed: 11)
        var copy = store
        var copyReference = reference
        Self.churn(&store, &reference, steps: 60_000, users: 2_000, seed: 12)
        Self.expectSame(copy, copyReference, users: 2_000)
        Self.churn(&copy, &copyReference, steps: 60_000, users: 2_000, seed: 13)
        Self.expectSame(copy, copyReference, users: 2_000)
        Self.expectSame(store, reference, users: 2_000)
        #expect(copyReference.items.map(\.time) != reference.items.map(\.time))
    }

    @Test func theCheckpointFormRestoresEntriesChainsAndHandovers() throws {
        var store = PendingStore(capacity: 10_000)
        var reference = Reference()
        Self.churn(&store, &reference, steps: 60_000, users: 800, seed: 11)
        let bytes = try BinaryCoder.encode(store)
        var restored = try BinaryCoder.decode(PendingStore.self, from: bytes)
        Self.expectSame(restored, reference, users: 800)
        // Only live entries and their own features are written, not whole blocks.
        let features = reference.items.reduce(0) { $0 + $1.indices.count }
        #expect(bytes.count < reference.items.count * 32 + features * 8 + 200)
        // Both go on identically.
        var again = reference
        Self.churn(&restored, &reference, steps: 20_000, users: 800, seed: 12)
        Self.churn(&store, &again, steps: 20_000, users: 800, seed: 12)
        Self.expectSame(restored, reference, users: 800)
        Self.expectSame(store, again, users: 800)
    }

    @Test func aCorruptCheckpointFormIsAnErrorNotACrash() throws {
        var store = PendingStore(capacity: 64)
        for seq in Int64(0)..<40 {
            store.push(user: 1, time: seq, score: 0, step: 0, features: Self.vector(seq: seq, count: 3))
        }
        struct Forged: Encodable {
            var capacity = 64, head: Int64 = 0
            var users: [UInt64] = [1, 2], times: [Int64] = [0, 1], scores: [Float] = [0, 0]
            var steps: [UInt8] = [0, 0], flags: [UInt8] = [0, 0], counts: [UInt8] = [2, 2]
            var indices: [UInt32] = [1, 2, 3], values: [Float] = [1, 1, 1]
        }
        #expect(throws: (any Error).self) { try BinaryCoder.decode(PendingStore.self, from: BinaryCoder.encode(Forged())) }
        var tooMany = Forged()
        tooMany.capacity = 16
        tooMany.users = Array(repeating: 1, count: 17)
        #expect(throws: (any Error).self) { try BinaryCoder.decode(PendingStore.self, from: BinaryCoder.encode(tooMany)) }
        var wide = Forged()
        wide.counts = [65, 0]
        #expect(throws: (any Error).self) { try BinaryCoder.decode(PendingStore.self, from: BinaryCoder.encode(wide)) }
        var fine = Forged()
        fine.indices = [1, 2, 3, 4]
        fine.values = [1, 1, 1, 1]
        let decoded = try BinaryCoder.decode(PendingStore.self, from: BinaryCoder.encode(fine))
        #expect(decoded.count == 2)
    }
}
