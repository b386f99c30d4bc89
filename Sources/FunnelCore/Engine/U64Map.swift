/// Open-addressing hash map from non-zero, well-mixed 64-bit keys to values (linear probing,
/// backward-shift deletion, load ≤ 1/2). Replaces `Dictionary` on hot paths: no `Hasher`, no
/// tombstones, one contiguous probe.
public struct U64Map<Value: Sendable>: Sendable {
    private var keys: [UInt64]
    private var values: [Value?]
    private var mask: Int
    public private(set) var count = 0

    public init(minimumCapacity: Int = 16) {
        var size = 16
        while size < minimumCapacity * 2 { size <<= 1 }
        keys = Array(repeating: 0, count: size)
        values = Array(repeating: nil, count: size)
        mask = size - 1
    }

    @inline(__always)
    private func index(of key: UInt64) -> (Int, Bool) {
        var i = Int(truncatingIfNeeded: key) & mask
        while true {
            let k = keys[i]
            if k == key { return (i, true) }
            if k == 0 { return (i, false) }
            i = (i + 1) & mask
        }
    }

    /// Starts loading the slot `key` probes first (a cache hint).
    @inline(__always)
    public func prefetch(_ key: UInt64) {
        let i = Int(truncatingIfNeeded: key) & mask
        keys.prefetch(i)
        values.prefetch(i)
    }

    @inline(__always)
    public subscript(key: UInt64) -> Value? {
        get {
            let (i, found) = index(of: key)
            return found ? values[i] : nil
        }
        set {
            if let newValue { insert(key, newValue) } else { remove(key) }
        }
    }

    @inline(__always)
    public mutating func insert(_ key: UInt64, _ value: Value) {
        let (i, found) = index(of: key)
        if found {
            values[i] = value
            return
        }
        if (count + 1) * 2 > keys.count {
            grow()
            insert(key, value)
            return
        }
        keys[i] = key
        values[i] = value
        count += 1
    }

    @inline(__always)
    public mutating func remove(_ key: UInt64) {
        let (found, exists) = index(of: key)
        guard exists else { return }
        var hole = found
        var j = (hole + 1) & mask
        while keys[j] != 0 {
            let home = Int(truncatingIfNeeded: keys[j]) & mask
            if (hole - home) & mask < (j - home) & mask {
                keys[hole] = keys[j]
                values[hole] = values[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        keys[hole] = 0
        values[hole] = nil
        count -= 1
    }

    private mutating func grow() {
        let oldKeys = keys
        let oldValues = values
        let size = keys.count * 2
        keys = Array(repeating: 0, count: size)
        values = Array(repeating: nil, count: size)
        mask = size - 1
        count = 0
        for i in oldKeys.indices where oldKeys[i] != 0 {
            if let v = oldValues[i] { insert(oldKeys[i], v) }
        }
    }

    /// Every entry, in table order (deterministic for the same insert/remove history).
    public func forEach(_ body: (UInt64, Value) -> Void) {
        for i in keys.indices where keys[i] != 0 {
            if let v = values[i] { body(keys[i], v) }
        }
    }
}

extension U64Map: Codable where Value: Codable {}
