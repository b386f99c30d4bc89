/// Binary min-heap keyed by (time, tie), carrying a payload.
///
/// Keys are simulation times in milliseconds; `tie` makes the order total (actor index or an
/// insertion counter) so equal times pop in a reproducible order. Storage is one array that
/// grows geometrically: no allocation per operation once it has reached its working size.
struct SimHeap<Payload>: @unchecked Sendable {
    struct Entry {
        var time: Double
        var tie: UInt64
        var payload: Payload
    }

    private(set) var entries: [Entry] = []

    init(capacity: Int = 0) { entries.reserveCapacity(capacity) }

    @inline(__always) var isEmpty: Bool { entries.isEmpty }
    @inline(__always) var count: Int { entries.count }
    /// Earliest entry; only valid when not empty.
    @inline(__always) var top: Entry { entries[0] }
    @inline(__always) var topTime: Double { entries.isEmpty ? .infinity : entries[0].time }

    @inline(__always)
    private static func less(_ a: Entry, _ b: Entry) -> Bool {
        a.time < b.time || (a.time == b.time && a.tie < b.tie)
    }

    mutating func push(_ entry: Entry) {
        entries.append(entry)
        siftUp(entries.count - 1)
    }

    /// Builds the heap from unordered entries in O(n).
    mutating func build(_ all: [Entry]) {
        entries = all
        var i = entries.count / 2 - 1
        while i >= 0 {
            siftDown(i)
            i -= 1
        }
    }

    @discardableResult
    mutating func pop() -> Entry {
        let first = entries[0]
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            siftDown(0)
        }
        return first
    }

    /// Moves the top entry to a new (later or earlier) time: one sift instead of pop + push.
    @inline(__always)
    mutating func retimeTop(_ time: Double) {
        entries[0].time = time
        siftDown(0)
    }

    private mutating func siftUp(_ start: Int) {
        var i = start
        let item = entries[i]
        while i > 0 {
            let parent = (i - 1) >> 1
            if !SimHeap.less(item, entries[parent]) { break }
            entries[i] = entries[parent]
            i = parent
        }
        entries[i] = item
    }

    private mutating func siftDown(_ start: Int) {
        let n = entries.count
        var i = start
        let item = entries[i]
        while true {
            var child = 2 * i + 1
            if child >= n { break }
            if child + 1 < n && SimHeap.less(entries[child + 1], entries[child]) { child += 1 }
            if !SimHeap.less(entries[child], item) { break }
            entries[i] = entries[child]
            i = child
        }
        entries[i] = item
    }
}
