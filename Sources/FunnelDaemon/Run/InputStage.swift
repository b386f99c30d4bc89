import FunnelCore

/// Kafka records waiting for the engine's batch passes (``Engine/stage(_:at:decoder:into:)``).
///
/// A poll hands the pipeline one message at a time, and librdkafka frees each message when its
/// turn ends, so a staged record's bytes are copied into an arena allocated once. Staging a
/// handful of records before applying any lets their hash-table misses overlap, as `replay`'s
/// batches do; the outputs are those of applying them one by one. Confined to the pipeline thread.
final class InputStage {
    /// The input message behind each staged record, for the output ledger.
    struct Origin {
        var slot: Int32
        var offset: Int64
        var timestampMilliseconds: Int64
    }

    // Per-record state, confined to the pipeline thread and never accessed re-entrantly: no
    // dynamic exclusivity check (see OutputPublisher).
    @exclusivity(unchecked) var batch: EngineBatch
    @exclusivity(unchecked) private(set) var origins: [Origin] = []
    private let blockBytes: Int
    @exclusivity(unchecked) private var arena: UnsafeMutableRawBufferPointer
    @exclusivity(unchecked) private var used = 0
    /// Full blocks that staged records still point into, freed by ``reset()``.
    private var retired: [UnsafeMutableRawBufferPointer] = []

    /// - Parameters:
    ///   - records: records staged at most before they must be applied.
    ///   - arenaBytes: the arena's block size; a larger record gets a block of its own size.
    init(records: Int = EngineBatch.defaultCapacity, arenaBytes: Int = 256 << 10) {
        batch = EngineBatch(capacity: records)
        origins.reserveCapacity(records)
        blockBytes = max(arenaBytes, 1)
        arena = .allocate(byteCount: blockBytes, alignment: 16)
    }

    deinit {
        arena.deallocate()
        for block in retired { block.deallocate() }
    }

    var isEmpty: Bool { batch.isEmpty }
    var isFull: Bool { batch.isFull }

    /// A copy of `payload` that stays valid until ``reset()``. With a full batch of typical
    /// records it always fits the first block; a record that does not fit what is left starts a
    /// new block.
    func copy(_ payload: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        if payload.count > arena.count - used {
            if used > 0 { retired.append(arena) } else { arena.deallocate() }
            arena = .allocate(byteCount: max(payload.count, blockBytes), alignment: 16)
            used = 0
        }
        let target = UnsafeMutableRawBufferPointer(rebasing: arena[used..<used + payload.count])
        if payload.count > 0, let source = payload.baseAddress, let base = target.baseAddress {
            base.copyMemory(from: source, byteCount: payload.count)
        }
        used += payload.count
        return UnsafeRawBufferPointer(target)
    }

    func noteOrigin(_ origin: Origin) { origins.append(origin) }

    /// Forgets every staged record (after all of them were applied).
    func reset() {
        batch.removeAll()
        origins.removeAll(keepingCapacity: true)
        used = 0
        for block in retired { block.deallocate() }
        retired.removeAll(keepingCapacity: true)
    }
}
