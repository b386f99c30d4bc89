import Testing
@testable import FunnelCore

@Suite("Timer and reorder queue")
struct MinHeapTests {
    struct Item: Comparable, Sendable, Codable {
        var time: Int64
        var sequence: Int
        static func < (a: Item, b: Item) -> Bool { a.time != b.time ? a.time < b.time : a.sequence < b.sequence }
    }

    /// Pops interleaved with pushes give exactly sorted order, whether the input is in order, out of
    /// order within a few steps (the reorder buffer's case) or arbitrary.
    @Test(arguments: [0, 5, 1_000_000])
    func popsInOrderWhateverThePushOrder(jitter: Int64) {
        var random = SimRandom(seed: UInt64(jitter) &+ 7)
        var queue = MinHeap<Item>()
        var reference: [Item] = []
        var popped: [Item] = []
        var expected: [Item] = []
        for k in 0..<20_000 {
            let noise = jitter == 0 ? 0 : Int64(random.next() % UInt64(jitter))
            let item = Item(time: Int64(k) * 3 + noise, sequence: k)
            queue.push(item)
            reference.append(item)
            if random.next() % 3 == 0 {
                reference.sort()
                expected.append(reference.removeFirst())
                if let top = queue.pop() { popped.append(top) }
            }
            #expect(queue.count == reference.count)
        }
        reference.sort()
        expected += reference
        while let top = queue.pop() { popped.append(top) }
        #expect(popped == expected)
        #expect(queue.isEmpty)
    }

    @Test func minIsTheSmallerOfTheRunAndTheHeap() {
        var queue = MinHeap<Item>()
        queue.push(Item(time: 10, sequence: 0))
        queue.push(Item(time: 20, sequence: 1))
        queue.push(Item(time: 5, sequence: 2))  // behind the run's last: goes to the heap
        #expect(queue.min == Item(time: 5, sequence: 2))
        #expect(queue.pop() == Item(time: 5, sequence: 2))
        #expect(queue.min == Item(time: 10, sequence: 0))
        #expect(queue.pop() == Item(time: 10, sequence: 0))
        #expect(queue.pop() == Item(time: 20, sequence: 1))
        #expect(queue.pop() == nil)
    }

    @Test func removeAllKeepsTheRestInOrder() {
        var queue = MinHeap<Item>()
        for k in 0..<1000 { queue.push(Item(time: Int64((k * 7919) % 1000), sequence: k)) }
        let removed = queue.removeAll { $0.time % 2 == 0 }
        #expect(removed.count == 500)
        #expect(removed.allSatisfy { $0.time % 2 == 0 })
        var times: [Int64] = []
        while let top = queue.pop() { times.append(top.time) }
        #expect(times == (0..<1000).filter { $0 % 2 == 1 }.map(Int64.init))
    }

    /// A queue restored from a checkpoint continues exactly as the original.
    @Test func checkpointRoundTripContinuesIdentically() throws {
        var queue = MinHeap<Item>()
        for k in 0..<5000 { queue.push(Item(time: Int64(k / 2) + (k % 5 == 0 ? -3 : 0), sequence: k)) }
        for _ in 0..<1234 { _ = queue.pop() }
        var restored = try BinaryCoder.decode(MinHeap<Item>.self, from: BinaryCoder.encode(queue))
        var a: [Item] = []
        var b: [Item] = []
        while let top = queue.pop() { a.append(top) }
        while let top = restored.pop() { b.append(top) }
        #expect(a == b)
        #expect(a.count == 5000 - 1234)
    }
}
