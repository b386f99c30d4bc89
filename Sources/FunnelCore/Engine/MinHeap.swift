/// A min-priority queue over a value type; the engine's timer and reorder queues.
///
/// Most of what the engine queues arrives in order per source: the events of one partition or
/// file, and conversion-window expiries (event time + a fixed window). A consumer reading several
/// partitions interleaves those sequences. So elements go to in-order runs — a push appends to the
/// run the previous push went to, or to another run it does not precede, or starts a new one — and
/// `pop` merges the runs through a small heap of their heads (a k-way merge: O(log runs) on a few
/// cache-resident entries). Only an element that fits no run while ``maxRuns`` are open goes to a
/// binary heap. The order is exactly a heap's: `pop` always returns the smallest element.
public struct MinHeap<Element: Comparable>: Sendable where Element: Sendable {
    /// Runs open at once; one per interleaved source is the ideal (a Kafka consumer's partitions).
    static var maxRuns: Int { 128 }

    /// Run storage by run index; the live elements of run `r` are `runs[r][heads[r]...]`,
    /// non-decreasing. An emptied run keeps its storage for reuse (see `spare`).
    private var runs: [[Element]] = []
    private var heads: [Int] = []
    /// The open runs as (last element, run index), sorted by that element: a push goes to the
    /// run with the largest tail it does not precede (found by binary search), which keeps the
    /// tails sorted.
    private var byTail: [(tail: Element, run: Int)] = []
    /// The open runs as (head element, run index): a binary min-heap on the head.
    private var order: [(head: Element, run: Int)] = []
    /// Indices of emptied runs.
    private var spare: [Int] = []
    /// Where in `byTail` the last push went (-1: unknown): consecutive pushes usually come from
    /// one source.
    private var lastIndex = -1
    /// Elements in runs.
    private var inRuns = 0
    /// Elements that fit no run: a binary heap.
    private var heap: [Element] = []

    public init() {}

    @inline(__always) public var isEmpty: Bool { count == 0 }
    @inline(__always) public var count: Int { inRuns + heap.count }

    @inline(__always)
    public var min: Element? {
        guard let first = order.first else { return heap.first }
        guard let h = heap.first, h < first.head else { return first.head }
        return h
    }

    /// The element `distance` places behind the head of the run holding the smallest head, if
    /// that run is that long: what `pop` will most likely return soon (a cache hint for callers;
    /// other runs and the heap, whose elements may come first, are not considered).
    @inline(__always)
    public func runElement(ahead distance: Int) -> Element? {
        guard let first = order.first else { return nil }
        let i = heads[first.run] + distance
        return i < runs[first.run].count ? runs[first.run][i] : nil
    }

    /// Every queued element, in no particular order.
    public var elements: [Element] {
        var all: [Element] = []
        all.reserveCapacity(count)
        for entry in order { all.append(contentsOf: runs[entry.run][heads[entry.run]...]) }
        return all + heap
    }

    @inline(__always)
    public mutating func push(_ element: Element) {
        let i = lastIndex
        if i >= 0, !(element < byTail[i].tail), i + 1 == byTail.count || element < byTail[i + 1].tail {
            append(element, at: i)
            return
        }
        pushSlow(element)
    }

    /// Appends to the run at `byTail[index]`, which `element` must fit (see `byTail`).
    @inline(__always)
    private mutating func append(_ element: Element, at index: Int) {
        runs[byTail[index].run].append(element)
        byTail[index].tail = element
        inRuns += 1
    }

    /// The run with the largest tail the element does not precede, else a new run (its tail the
    /// smallest), else the heap.
    private mutating func pushSlow(_ element: Element) {
        // The first tail the element precedes; the run before it is the best fit.
        var low = 0
        var high = byTail.count
        while low < high {
            let mid = (low + high) >> 1
            if element < byTail[mid].tail { high = mid } else { low = mid + 1 }
        }
        if low > 0 {
            append(element, at: low - 1)
            lastIndex = low - 1
            return
        }
        guard order.count < Self.maxRuns else {
            lastIndex = -1
            heapPush(element)
            return
        }
        let run: Int
        if let reused = spare.popLast() {
            run = reused
        } else {
            run = runs.count
            runs.append([])
            heads.append(0)
        }
        runs[run].append(element)
        inRuns += 1
        byTail.insert((element, run), at: 0)
        orderPush((element, run))
        lastIndex = 0
    }

    @inline(__always)
    public mutating func pop() -> Element? {
        if let first = order.first, heap.isEmpty || !(heap[0] < first.head) {
            let run = first.run
            let next = heads[run] + 1
            inRuns -= 1
            if next == runs[run].count {
                runs[run].removeAll(keepingCapacity: true)
                heads[run] = 0
                spare.append(run)
                if let index = byTail.firstIndex(where: { $0.run == run }) { byTail.remove(at: index) }
                lastIndex = -1
                orderRemoveFirst()
            } else if next >= 4096, next * 2 >= runs[run].count {
                runs[run].removeFirst(next)
                heads[run] = 0
                orderReplaceFirstHead(runs[run][0])
            } else {
                heads[run] = next
                orderReplaceFirstHead(runs[run][next])
            }
            return first.head
        }
        return heapPop()
    }

    // MARK: - The heap of run heads

    @inline(__always)
    private mutating func orderPush(_ entry: (head: Element, run: Int)) {
        order.append(entry)
        Self.siftUp(&order, from: order.count - 1) { $0.head < $1.head }
    }

    @inline(__always)
    private mutating func orderReplaceFirstHead(_ head: Element) {
        order[0].head = head
        orderSiftDown(from: 0)
    }

    @inline(__always)
    private mutating func orderRemoveFirst() {
        let last = order.removeLast()
        guard !order.isEmpty else { return }
        order[0] = last
        orderSiftDown(from: 0)
    }

    @inline(__always)
    private mutating func orderSiftDown(from start: Int) {
        Self.siftDown(&order, from: start) { $0.head < $1.head }
    }

    // MARK: - The heap of elements no run took

    @inline(__always)
    private mutating func heapPush(_ element: Element) {
        heap.append(element)
        Self.siftUp(&heap, from: heap.count - 1, by: <)
    }

    @inline(__always)
    private mutating func heapPop() -> Element? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        heap[0] = last
        Self.siftDown(&heap, from: 0, by: <)
        return top
    }

    // MARK: - Binary heap steps (both heaps)

    @inline(__always)
    private static func siftUp<T>(_ a: inout [T], from start: Int, by less: (T, T) -> Bool) {
        var child = start
        while child > 0 {
            let parent = (child - 1) >> 1
            guard less(a[child], a[parent]) else { break }
            a.swapAt(child, parent)
            child = parent
        }
    }

    @inline(__always)
    private static func siftDown<T>(_ a: inout [T], from start: Int, by less: (T, T) -> Bool) {
        var parent = start
        let n = a.count
        while true {
            let left = 2 * parent + 1
            guard left < n else { break }
            let right = left + 1
            var smallest = left
            if right < n && less(a[right], a[left]) { smallest = right }
            guard less(a[smallest], a[parent]) else { break }
            a.swapAt(smallest, parent)
            parent = smallest
        }
    }

    /// Removes and returns the elements `matches` selects (O(n); for rare bulk removals such as a
    /// partition handover). The rest is queued again: each run's elements, still in order, go
    /// back through `push`'s in-order path.
    public mutating func removeAll(where matches: (Element) -> Bool) -> [Element] {
        let all = elements
        let removed = all.filter(matches)
        guard !removed.isEmpty else { return [] }
        self = MinHeap()
        for element in all where !matches(element) { push(element) }
        return removed
    }
}

/// Checkpoints keep the layout of the single-run queue (`run`, `runHead`, `heap`): every element
/// goes in one sorted run, which any version restores into one run. Elements are totally ordered
/// in every queue the engine keeps, so the restored queue pops exactly what the original would.
extension MinHeap: Codable where Element: Codable {
    private enum CodingKeys: String, CodingKey { case run, runHead, heap }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(elements.sorted(), forKey: .run)
        try c.encode(0, forKey: .runHead)
        try c.encode([Element](), forKey: .heap)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let run = try c.decode([Element].self, forKey: .run)
        let runHead = try c.decode(Int.self, forKey: .runHead)
        let heap = try c.decode([Element].self, forKey: .heap)
        self.init()
        guard runHead >= 0, runHead <= run.count else {
            throw DecodingError.dataCorruptedError(forKey: .runHead, in: c, debugDescription: "run head out of range")
        }
        // A sorted run goes back in through push's in-order path; anything else is still ordered.
        for element in run[runHead...] { push(element) }
        for element in heap { push(element) }
    }
}

