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

    var batch: EngineBatch
    private(set) var origins: [Origin] = []
    private let arena: UnsafeMutableRawBufferPointer
    private var used = 0

    /// - Parameters:
    ///   - records: records staged at most before they must be applied.
    ///   - arenaBytes: bytes of payload staged at most; a larger record is applied unstaged.
    init(records: Int = EngineBatch.defaultCapacity, arenaBytes: Int = 256 << 10) {
        batch = EngineBatch(capacity: records)
        origins.reserveCapacity(records)
        arena = .allocate(byteCount: max(arenaBytes, 1), alignment: 16)
    }

    deinit { arena.deallocate() }

    var isEmpty: Bool { batch.isEmpty }
    var isFull: Bool { batch.isFull }

    /// A copy of `payload` in the arena, or nil when it does not fit in what is left.
    func copy(_ payload: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard payload.count <= arena.count - used else { return nil }
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
    }
}
