/// A binary min-heap over a value type; the engine's timer and reorder queues.
public struct MinHeap<Element: Comparable>: Sendable where Element: Sendable {
    public private(set) var items: [Element] = []

    public init() {}

    @inline(__always) public var isEmpty: Bool { items.isEmpty }
    @inline(__always) public var count: Int { items.count }
    @inline(__always) public var min: Element? { items.first }

    @inline(__always)
    public mutating func push(_ element: Element) {
        items.append(element)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) >> 1
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    @inline(__always)
    public mutating func pop() -> Element? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        items[0] = last
        var parent = 0
        let n = items.count
        while true {
            let left = 2 * parent + 1
            guard left < n else { break }
            let right = left + 1
            var smallest = left
            if right < n && items[right] < items[left] { smallest = right }
            guard items[smallest] < items[parent] else { break }
            items.swapAt(smallest, parent)
            parent = smallest
        }
        return top
    }

    /// Removes and returns the elements `matches` selects, then restores the heap order (O(n);
    /// for rare bulk removals such as a partition handover).
    public mutating func removeAll(where matches: (Element) -> Bool) -> [Element] {
        let removed = items.filter(matches)
        guard !removed.isEmpty else { return [] }
        let kept = items.filter { !matches($0) }
        items.removeAll(keepingCapacity: true)
        for element in kept { push(element) }
        return removed
    }
}

extension MinHeap: Codable where Element: Codable {}
