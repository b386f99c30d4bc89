import CPrefetch

extension Array {
    /// Starts loading the cache line of element `i` (a hint: no effect on results, never a fault,
    /// so an index out of range only wastes the hint). The engine's hash tables issue it for the
    /// slot an event will probe, so that independent misses overlap.
    @inline(__always)
    func prefetch(_ i: Int) {
        withUnsafeBufferPointer { if let base = $0.baseAddress { fp_prefetch(base + i) } }
    }
}
