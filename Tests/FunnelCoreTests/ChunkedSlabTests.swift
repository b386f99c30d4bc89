import Testing

@testable import FunnelCore

/// The user table's storage: an array in chunks that copies share until written.
struct ChunkedSlabTests {
    @Test func behavesLikeAnArrayAcrossChunks() {
        var slab = ChunkedSlab<UInt64>()
        var reference: [UInt64] = []
        var rng = SimRandom(seed: 3)
        for step in 0..<30_000 {
            if step % 3 == 0 || reference.isEmpty {
                slab.append(UInt64(step))
                reference.append(UInt64(step))
            } else {
                let i = Int(rng.next() % UInt64(reference.count))
                slab[i] &+= 7
                reference[i] &+= 7
            }
        }
        #expect(slab.count == reference.count && reference.count > 2 * ChunkedSlab<UInt64>.chunkSize)
        #expect((0..<slab.count).allSatisfy { slab[$0] == reference[$0] })
        #expect(slab.address(of: 5) + 8 == slab.address(of: 6))
    }

    /// A copy (a checkpoint's copy of the engine) keeps its values whatever either side writes or
    /// appends afterwards, in shared chunks and in the partly filled last one.
    @Test func copiesAreIndependentChunkByChunk() {
        let n = 2 * ChunkedSlab<UInt64>.chunkSize + 100
        var a = ChunkedSlab<UInt64>((0..<UInt64(n)).map { $0 })
        var b = a
        a[0] = 1_000_000
        a[n - 1] = 2_000_000
        a.append(3_000_000)
        b[ChunkedSlab<UInt64>.chunkSize] = 4_000_000
        b.append(5_000_000)
        #expect(a.count == n + 1 && b.count == n + 1)
        #expect(a[0] == 1_000_000 && b[0] == 0)
        #expect(a[n - 1] == 2_000_000 && b[n - 1] == UInt64(n - 1))
        #expect(a[n] == 3_000_000 && b[n] == 5_000_000)
        #expect(b[ChunkedSlab<UInt64>.chunkSize] == 4_000_000 && a[ChunkedSlab<UInt64>.chunkSize] == UInt64(ChunkedSlab<UInt64>.chunkSize))
        #expect((1..<(n - 1)).filter { $0 != ChunkedSlab<UInt64>.chunkSize }.allSatisfy { a[$0] == UInt64($0) && b[$0] == UInt64($0) })
    }

    /// Checkpoints hold the same bytes as for the `Array` the user table used to be (format 7).
    @Test func itsCheckpointFormIsTheArrays() throws {
        let values = (0..<UInt64(10_000)).map { $0 &* 0x9E37_79B9_7F4A_7C15 }
        let slab = ChunkedSlab<UInt64>(values)
        let bytes = try BinaryCoder.encode(slab)
        #expect(bytes == (try BinaryCoder.encode(values)))
        let back = try BinaryCoder.decode(ChunkedSlab<UInt64>.self, from: bytes)
        #expect(back.count == values.count && (0..<values.count).allSatisfy { back[$0] == values[$0] })
        #expect(try BinaryCoder.encode(ChunkedSlab<UInt64>()) == (try BinaryCoder.encode([UInt64]())))
    }
}
