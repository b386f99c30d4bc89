// Fast reads of a user's engine state for the per-event path.

/// A view of one user's sliding-window counters (`UserRecord.counts`, 96 bytes) for the
/// duration of one event: totals are three word loads and a byte-sum, group counts four byte
/// loads (the same numbers as `UserRecord.total(window:)` / `count(window:group:)`).
struct WindowCounters {
    let bytes: UnsafeRawBufferPointer

    /// Sum of the eight bytes of `x`.
    @inline(__always)
    private static func byteSum(_ x: UInt64) -> Int {
        let pairs = (x & 0x00FF_00FF_00FF_00FF) &+ ((x >> 8) & 0x00FF_00FF_00FF_00FF)
        return Int(truncatingIfNeeded: (pairs &* 0x0001_0001_0001_0001) >> 48)
    }

    /// Events of every type in window `w`.
    @inline(__always)
    func total(window w: Int) -> Int {
        let base = w &* 24
        guard base >= 0, base + 24 <= bytes.count else { return 0 }
        return Self.byteSum(bytes.loadUnaligned(fromByteOffset: base, as: UInt64.self))
            &+ Self.byteSum(bytes.loadUnaligned(fromByteOffset: base + 8, as: UInt64.self))
            &+ Self.byteSum(bytes.loadUnaligned(fromByteOffset: base + 16, as: UInt64.self))
    }

    /// Events of window group `g` in window `w`.
    @inline(__always)
    func count(window w: Int, group g: Int) -> Int {
        let base = w &* 24 &+ g
        guard base >= 0, base + 18 < bytes.count else { return 0 }
        return Int(bytes[base]) &+ Int(bytes[base + 6]) &+ Int(bytes[base + 12]) &+ Int(bytes[base + 18])
    }
}

extension UserRecord {
    /// Distinct item fingerprints among the recent product events within `seconds` of `now`
    /// (as `distinctRecent(now:seconds:).items`, reading the ring in place).
    @inline(__always)
    func distinctRecentItems(now: UInt32, seconds: UInt32) -> Int {
        withUnsafeBytes(of: recent) { raw in
            let nowTag = UInt64(now) & 0xFF_FFFF
            let limit = UInt64(seconds)
            let slots = min(raw.count / 8, UserRecord.ringSize)
            @inline(__always) func item(_ i: Int) -> UInt64? {
                let e = raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
                guard e != 0, (nowTag &- (e & 0xFF_FFFF)) & 0xFF_FFFF <= limit else { return nil }
                return e >> 40
            }
            var n = 0
            outer: for i in 0..<slots {
                guard let current = item(i) else { continue }
                for j in 0..<i where item(j) == current { continue outer }
                n += 1
            }
            return n
        }
    }
}
