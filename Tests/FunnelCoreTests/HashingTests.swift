import Testing

@testable import FunnelCore

/// Keys, checkpoints and saved models depend on `StableHash` values never changing: the word-wise
/// tail read must give exactly the byte-by-byte definition, at every length and alignment.
@Suite struct HashingTests {
    /// The definition: 8-byte little-endian words, then the rest assembled byte by byte.
    static func reference(_ bytes: [UInt8]) -> UInt64 {
        var h = StableHash.seed ^ UInt64(bytes.count)
        var i = 0
        while i + 8 <= bytes.count {
            var w: UInt64 = 0
            for k in 0..<8 { w |= UInt64(bytes[i + k]) << UInt64(8 * k) }
            h = (h ^ w) &* 0x0000_0100_0000_01b3
            h ^= h >> 29
            i += 8
        }
        if i < bytes.count {
            var tail: UInt64 = 0
            for k in 0..<(bytes.count - i) { tail |= UInt64(bytes[i + k]) << UInt64(8 * k) }
            h = (h ^ tail) &* 0x0000_0100_0000_01b3
            h ^= h >> 29
        }
        return StableHash.mix(h)
    }

    @Test func hashEqualsTheByteWiseDefinitionAtEveryLengthAndOffset() {
        var rng = SimRandom(seed: 3)
        let pool = (0..<64).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        pool.withUnsafeBytes { all in
            for length in 0...40 {
                for offset in 0...(64 - length) where offset < 9 || offset + length == 64 {
                    let slice = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + length)])
                    #expect(StableHash.hash(slice) == Self.reference(Array(slice)), "length \(length) offset \(offset)")
                }
            }
        }
        // A value pinned once, so a change of the definition itself is caught too.
        #expect(StableHash.hash("u-17855") == Self.reference(Array("u-17855".utf8)))
    }

    @Test func memoryEqualFindsADifferenceAtEveryPosition() {
        for length in 0...24 {
            let a = (0..<length).map { UInt8($0 + 1) }
            #expect(a.withUnsafeBytes { x in a.withUnsafeBytes { y in memoryEqual(x.baseAddress, y.baseAddress, length) } })
            for position in 0..<length {
                var b = a
                b[position] ^= 0x20
                let equal = a.withUnsafeBytes { x in b.withUnsafeBytes { y in memoryEqual(x.baseAddress, y.baseAddress, length) } }
                #expect(!equal, "length \(length) position \(position)")
            }
        }
    }
}
