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
        queue.push(Item(time: 5, sequence: 2))  // behind the run's last: a second run
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

    /// A consumer interleaves partitions, each in event-time order: the runs merge them, and with
    /// more sources than runs the rest go through the heap; either way pops come out sorted.
    @Test(arguments: [1, 3, 64, 300])
    func interleavedSourcesPopSorted(sources: Int) {
        var random = SimRandom(seed: UInt64(sources))
        var queue = MinHeap<Item>()
        var clock = (0..<sources).map { Int64($0 * 7) }
        var reference: [Item] = []
        var popped: [Item] = []
        var sequence = 0
        for _ in 0..<40_000 {
            // Bursts from one source, as a fetch delivers them; sources progress at their own pace.
            let source = Int(random.next() % UInt64(sources))
            for _ in 0..<Int(1 + random.next() % 20) {
                clock[source] += Int64(random.next() % UInt64(5 + source % 7))
                let item = Item(time: clock[source], sequence: sequence)
                sequence += 1
                queue.push(item)
                reference.append(item)
            }
            // The watermark: pop everything up to the slowest source's clock (later items are
            // later in time or, at equal time, in sequence), so the pops must be globally sorted.
            let low = clock.min() ?? 0
            while let top = queue.min, top.time <= low, let item = queue.pop() { popped.append(item) }
        }
        while let item = queue.pop() { popped.append(item) }
        #expect(popped.count == reference.count)
        let sorted = reference.sorted()
        var firstDifference: Int?
        for i in 0..<min(popped.count, sorted.count) where popped[i] != sorted[i] {
            firstDifference = i
            break
        }
        #expect(firstDifference == nil)
    }

    /// Checkpoints written before the runs kept one run and a heap; they still restore.
    @Test func restoresTheSingleRunLayout() throws {
        struct Layout: Codable {
            var run: [Item]
            var runHead: Int
            var heap: [Item]
        }
        var heap = MinHeap<Item>()
        for k in [9, 4, 7, 1, 8] { heap.push(Item(time: Int64(k), sequence: k)) }
        // A run with two popped entries, and a valid binary heap of out-of-order ones.
        let old = Layout(run: (0..<6).map { Item(time: Int64(10 + $0 * 2), sequence: 100 + $0) }, runHead: 2,
                         heap: [Item(time: 3, sequence: 200), Item(time: 11, sequence: 201), Item(time: 15, sequence: 202)])
        var restored = try BinaryCoder.decode(MinHeap<Item>.self, from: BinaryCoder.encode(old))
        var times: [Int64] = []
        while let item = restored.pop() { times.append(item.time) }
        #expect(times == [3, 11, 14, 15, 16, 18, 20])
        // And the new layout is the old one: one sorted run.
        let encoded = try BinaryCoder.decode(Layout.self, from: BinaryCoder.encode(heap))
        #expect(encoded.run.map(\.time) == [1, 4, 7, 8, 9])
        #expect(encoded.runHead == 0 && encoded.heap.isEmpty)
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
        // Compared without printing thousands of items on a failure.
        #expect(a.count == b.count)
        #expect(zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset == nil)
        #expect(a.count == 5000 - 1234)
    }
}
