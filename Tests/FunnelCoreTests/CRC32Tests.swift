import Testing

@testable import FunnelCore

/// The checksum of saved models and checkpoints: zlib's CRC-32, eight bytes at a time.
struct CRC32Tests {
    /// Byte at a time, straight from the polynomial.
    static func reference(_ bytes: [UInt8], seed: UInt32 = 0) -> UInt32 {
        var c = ~seed
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }

    @Test func knownValues() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
        #expect(CRC32.checksum(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x414F_A339)
    }

    @Test func everyLengthOffsetAndSeedMatchesTheBytewiseDefinition() {
        var rng = SimRandom(seed: 5)
        let data = (0..<300).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for start in 0..<9 {
            for length in 0..<(data.count - start) where length < 40 || length % 37 == 0 {
                let slice = data[start..<(start + length)]
                let seed = UInt32(truncatingIfNeeded: rng.next())
                #expect(CRC32.checksum(slice, seed: seed) == Self.reference(Array(slice), seed: seed))
                // A non-contiguous sequence takes the byte-at-a-time path.
                #expect(CRC32.checksum(slice.lazy.map { $0 }, seed: seed) == Self.reference(Array(slice), seed: seed))
            }
        }
        // Chaining: the CRC of a whole is the CRC of its tail seeded with the CRC of its head.
        #expect(CRC32.checksum(data[100...], seed: CRC32.checksum(data[..<100])) == CRC32.checksum(data))
    }
}
