/// Fast, stable 64-bit hashing of byte strings (identifiers, keys, categorical values).
///
/// Stable across runs and platforms (unlike `Hasher`), so hashed feature indices, user keys and
/// checkpoints are reproducible. FNV-1a over 8-byte words with a final avalanche.
public enum StableHash {
    public static let seed: UInt64 = 0xcbf2_9ce4_8422_2325

    @inline(__always)
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = seed) -> UInt64 {
        var h = seed ^ UInt64(truncatingIfNeeded: bytes.count)
        var i = 0
        let n = bytes.count
        while i + 8 <= n {
            let w = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = (h ^ w) &* 0x0000_0100_0000_01b3
            h ^= h >> 29
            i += 8
        }
        if i < n {
            // The 1–7 remaining bytes as a little-endian word, read with at most two loads that
            // stay inside the buffer (the same value as assembling them byte by byte).
            let rest = n - i
            var tail: UInt64 = 0
            if n >= 8 {
                tail = bytes.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) >> UInt64(8 * (8 - rest))
            } else if n >= 4 {
                let low = UInt64(bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
                let high = UInt64(bytes.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self))
                tail = low | (high << UInt64(8 * (n - 4)))
            } else {
                var shift: UInt64 = 0
                while i < n {
                    tail |= UInt64(bytes[i]) << shift
                    shift += 8
                    i += 1
                }
            }
            h = (h ^ tail) &* 0x0000_0100_0000_01b3
            h ^= h >> 29
        }
        return mix(h)
    }

    @inline(__always)
    public static func hash(_ string: String, seed: UInt64 = seed) -> UInt64 {
        var s = string
        return s.withUTF8 { hash(UnsafeRawBufferPointer($0), seed: seed) }
    }

    /// splitmix64 finaliser: good avalanche for table indexing and feature hashing.
    @inline(__always)
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    @inline(__always)
    public static func combine(_ a: UInt64, _ b: UInt64) -> UInt64 {
        mix(a ^ (b &* 0x9e37_79b9_7f4a_7c15))
    }

    /// 32-bit FNV-1a, as the peers in the conversion task hash items and categories.
    @inline(__always)
    public static func fnv1a32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt32 = 0x811c_9dc5
        for b in bytes { h = (h ^ UInt32(b)) &* 0x0100_0193 }
        return h
    }
}
