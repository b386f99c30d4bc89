/// A min-priority queue over a value type; the engine's timer and reorder queues.
///
/// Most of what the engine queues arrives already in order: events of a sorted stream, and
/// conversion-window expiries (event time + a fixed window, applied in event-time order). Those
/// go to a FIFO run in O(1) each way; only an element smaller than the run's last one goes to a
/// binary heap. `pop` takes the smaller of the two heads, so the order is exactly a heap's.
public struct MinHeap<Element: Comparable>: Sendable where Element: Sendable {
    /// Elements pushed in non-decreasing order; the live ones are `run[runHead...]`. Emptied
    /// (head back to 0) whenever its last element is popped.
    private var run: [Element] = []
    private var runHead = 0
    /// Elements pushed out of order: a binary heap.
    private var heap: [Element] = []

    public init() {}

    @inline(__always) public var isEmpty: Bool { count == 0 }
    @inline(__always) public var count: Int { run.count - runHead + heap.count }

    @inline(__always)
    public var min: Element? {
        guard runHead < run.count else { return heap.first }
        guard let h = heap.first, h < run[runHead] else { return run[runHead] }
        return h
    }

    /// The element `distance` places behind the head of the in-order run, if the run is that
    /// long: what `pop` will most likely return soon (a cache hint for callers; heap entries that
    /// may come first are not considered).
    @inline(__always)
    public func runElement(ahead distance: Int) -> Element? {
        let i = runHead + distance
        return i < run.count ? run[i] : nil
    }

    /// Every queued element, in no particular order.
    public var elements: [Element] { Array(run[runHead...]) + heap }

    @inline(__always)
    public mutating func push(_ element: Element) {
        if let last = run.last, element < last {
            heapPush(element)
        } else {
            run.append(element)
        }
    }

    @inline(__always)
    public mutating func pop() -> Element? {
        if runHead < run.count, heap.isEmpty || !(heap[0] < run[runHead]) {
            let top = run[runHead]
            runHead += 1
            if runHead == run.count {
                run.removeAll(keepingCapacity: true)
                runHead = 0
            } else if runHead >= 4096, runHead * 2 >= run.count {
                run.removeFirst(runHead)
                runHead = 0
            }
            return top
        }
        return heapPop()
    }

    @inline(__always)
    private mutating func heapPush(_ element: Element) {
        heap.append(element)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) >> 1
            guard heap[child] < heap[parent] else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    @inline(__always)
    private mutating func heapPop() -> Element? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        heap[0] = last
        var parent = 0
        let n = heap.count
        while true {
            let left = 2 * parent + 1
            guard left < n else { break }
            let right = left + 1
            var smallest = left
            if right < n && heap[right] < heap[left] { smallest = right }
            guard heap[smallest] < heap[parent] else { break }
            heap.swapAt(smallest, parent)
            parent = smallest
        }
        return top
    }

    /// Removes and returns the elements `matches` selects (O(n); for rare bulk removals such as a
    /// partition handover). The run stays in order; the heap is rebuilt.
    public mutating func removeAll(where matches: (Element) -> Bool) -> [Element] {
        let removed = elements.filter(matches)
        guard !removed.isEmpty else { return [] }
        run = run[runHead...].filter { !matches($0) }
        runHead = 0
        let kept = heap.filter { !matches($0) }
        heap.removeAll(keepingCapacity: true)
        for element in kept { heapPush(element) }
        return removed
    }
}

extension MinHeap: Codable where Element: Codable {}
