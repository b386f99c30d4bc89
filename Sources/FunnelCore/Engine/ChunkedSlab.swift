/// A growable array of plain values in chunks of 4,096, each shared between copies of the slab
/// until one of them writes to it (copy-on-write per chunk).
///
/// The user table is most of the engine's memory (224 bytes per user). As one `Array`, the first
/// write after the engine was copied for a checkpoint copied all of it on the pipeline thread: at
/// 1,000,000 users, 224 MB before that event could be applied. Here a write copies only its own
/// chunk (917 KB of user records), and only the chunks written while the copy lives are copied.
/// Elements never move once appended, so growing copies nothing either.
///
/// Checkpoints see it as the `Array` it replaces: the same count and bytes (``RawArray``).
struct ChunkedSlab<Element: RawElement>: @unchecked Sendable {
    /// One chunk's memory: `ChunkedSlab.chunkSize` elements, the first ones initialised.
    final class Chunk {
        let base: UnsafeMutablePointer<Element>

        init() {
            base = .allocate(capacity: ChunkedSlab.chunkSize)
        }

        /// A copy of `other`'s first `count` elements.
        init(copying other: Chunk, count: Int) {
            base = .allocate(capacity: ChunkedSlab.chunkSize)
            base.initialize(from: other.base, count: count)
        }

        deinit { base.deallocate() }
    }

    static var chunkShift: Int { 12 }
    static var chunkSize: Int { 1 << chunkShift }

    /// The chunks, and their memory (reads take the address without touching the owner).
    /// `@unchecked Sendable` on the same basis as an `Array`'s buffer: a chunk is only written
    /// through the slab that holds its sole reference.
    private var chunks: [Chunk] = []
    private var bases: [UnsafeMutablePointer<Element>] = []
    private(set) var count = 0

    init() {}

    init(_ elements: some Collection<Element>) {
        for element in elements { append(element) }
    }

    /// Room for the chunk table only: chunks are allocated as the slab reaches them.
    mutating func reserveCapacity(_ n: Int) {
        let needed = (n + Self.chunkSize - 1) >> Self.chunkShift
        chunks.reserveCapacity(needed)
        bases.reserveCapacity(needed)
    }

    var isEmpty: Bool { count == 0 }

    subscript(i: Int) -> Element {
        @inline(__always) get {
            precondition(i >= 0 && i < count, "ChunkedSlab index out of range")
            return bases[i >> Self.chunkShift][i & (Self.chunkSize - 1)]
        }
        @inline(__always) _modify {
            precondition(i >= 0 && i < count, "ChunkedSlab index out of range")
            let c = i >> Self.chunkShift
            if !isKnownUniquelyReferenced(&chunks[c]) { unshare(c) }
            yield &bases[c][i & (Self.chunkSize - 1)]
        }
    }

    /// The address of element `i`, for cache hints; valid until the slab is next changed.
    @inline(__always)
    func address(of i: Int) -> UnsafeRawPointer {
        UnsafeRawPointer(bases[i >> Self.chunkShift] + (i & (Self.chunkSize - 1)))
    }

    mutating func append(_ element: Element) {
        let c = count >> Self.chunkShift
        if c == chunks.count {
            let chunk = Chunk()
            chunks.append(chunk)
            bases.append(chunk.base)
        } else if !isKnownUniquelyReferenced(&chunks[c]) {
            unshare(c)
        }
        (bases[c] + (count & (Self.chunkSize - 1))).initialize(to: element)
        count += 1
    }

    /// Elements initialised in chunk `c`.
    private func filled(_ c: Int) -> Int { min(Self.chunkSize, count - (c << Self.chunkShift)) }

    @inline(never)
    private mutating func unshare(_ c: Int) {
        let chunk = Chunk(copying: chunks[c], count: filled(c))
        chunks[c] = chunk
        bases[c] = chunk.base
    }

    /// Calls `body` with each chunk's initialised elements, in order.
    func forEachChunk(_ body: (UnsafeBufferPointer<Element>) -> Void) {
        for c in 0..<chunks.count { body(UnsafeBufferPointer(start: bases[c], count: filled(c))) }
    }
}

extension ChunkedSlab: RawArray {
    /// Exactly what `[Element]` writes: the count, then the elements' bytes.
    func rawBytes(into bytes: inout [UInt8]) {
        BinarySink.append(UInt64(count), to: &bytes)
        forEachChunk { bytes.append(contentsOf: UnsafeRawBufferPointer($0)) }
    }

    static func fromRaw(_ source: BinarySource) throws -> ChunkedSlab<Element> {
        try source.readRawElements(Element.self) { from, count in
            // Straight from the checkpoint's bytes into the chunks (unaligned, so copied as bytes).
            var slab = ChunkedSlab()
            slab.reserveCapacity(count)
            var start = 0
            while start < count, let from {
                let n = min(chunkSize, count - start)
                let chunk = Chunk()
                UnsafeMutableRawPointer(chunk.base).copyMemory(
                    from: from + start * MemoryLayout<Element>.stride, byteCount: n * MemoryLayout<Element>.stride)
                slab.chunks.append(chunk)
                slab.bases.append(chunk.base)
                start += n
            }
            slab.count = count
            return slab
        }
    }
}

/// Other encoders see an array (the binary checkpoint coder takes the ``RawArray`` path).
extension ChunkedSlab: Codable where Element: Codable {
    func encode(to encoder: any Encoder) throws {
        var elements: [Element] = []
        elements.reserveCapacity(count)
        forEachChunk { elements.append(contentsOf: $0) }
        var container = encoder.singleValueContainer()
        try container.encode(elements)
    }

    init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode([Element].self))
    }
}
