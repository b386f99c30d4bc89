import FunnelKafka

/// The at-least-once bookkeeping: which input offsets may be committed, given which output
/// records the broker has acknowledged.
///
/// Per partition, a FIFO of `(last input offset, outputs not yet acknowledged)`. An input that
/// produced outputs opens an entry; an input that produced none joins the tail entry (or, with an
/// empty FIFO, is committable at once), since committing it requires everything before it anyway.
/// The head entry leaves the FIFO when its count reaches zero, and its offset + 1 becomes the
/// partition's committable offset — never earlier, so no offset is committed past an output that
/// could still be lost.
///
/// Outputs in flight are tracked in a slab of reusable slots (bookkeeping only: their bytes are
/// librdkafka's copy, which a failed delivery report hands back for the re-send); a delivery
/// token is `generation << 32 | slot`, so a late report for a recycled slot is ignored.
/// Plain value type, driven only by the pipeline thread; no Kafka calls, so it is unit-testable.
struct OutputLedger {
    struct Entry {
        var offset: Int64
        var outstanding: Int32
        /// Input message timestamp (ms since epoch) of the entry's first input, or -1.
        var timestampMilliseconds: Int64
    }

    struct Partition {
        var topicPartition: TopicPartition
        var active = true
        /// Bumped on revoke so outputs of the previous ownership no longer move anything.
        var epoch: UInt32 = 0
        var entries: [Entry] = []
        var head = 0
        /// Sequence number of `entries[head]`.
        var headSeq: UInt64 = 0
        /// Next offset that is safe to commit, when it moved since the last ``takeCommittable()``.
        var committable: Int64?
        /// Next offset after the last input processed (acknowledged or not); nil when inactive.
        var processed: Int64?
        /// Every output of the inputs before this offset is acknowledged: the committable offset,
        /// which ``takeCommittable()`` does not reset (checkpoints wait on it); -1 when none.
        var acked: Int64 = -1
        /// Newest input timestamp fully acknowledged since the last ``takeLatencySamples(nowMilliseconds:)``.
        var ackedTimestamp: Int64 = -1

        var isEmpty: Bool { head == entries.count }
    }

    /// One output record in flight, until the broker acknowledges it.
    struct Pending {
        var generation: UInt32 = 0
        var inUse = false
        var partition: Int32 = -1
        var epoch: UInt32 = 0
        var seq: UInt64 = 0
        var topicIndex = 0
        /// The model version its `model-version` header carries (kept for re-sends).
        var modelVersion: UInt64 = 0
        var attempts = 0
    }

    private(set) var partitions: [Partition] = []
    private var slotByPartition: [TopicPartition: Int32] = [:]
    private(set) var pending: [Pending] = []
    private var freeSlots: [Int32] = []
    /// Outputs handed to the producer and not yet acknowledged (retries included).
    private(set) var unacked = 0

    // The input being processed.
    private var currentPartition: Int32 = -1
    private var currentOffset: Int64 = 0
    private var currentTimestamp: Int64 = -1
    private var currentEntryOpen = false

    // MARK: - Partitions

    /// The slot (``SourcePosition/source``) of a partition, creating or reactivating it.
    mutating func activate(_ topicPartition: TopicPartition) -> Int32 {
        if let slot = slotByPartition[topicPartition] {
            if !partitions[Int(slot)].active { partitions[Int(slot)].active = true }
            return slot
        }
        let slot = Int32(partitions.count)
        partitions.append(Partition(topicPartition: topicPartition))
        slotByPartition[topicPartition] = slot
        return slot
    }

    func slot(of topicPartition: TopicPartition) -> Int32? { slotByPartition[topicPartition] }

    /// Forgets a partition's FIFO (after its committable offsets were committed). Outputs still in
    /// flight for it are neither retried nor counted: the next owner reprocesses those inputs.
    mutating func deactivate(_ topicPartition: TopicPartition) {
        guard let slot = slotByPartition[topicPartition] else { return }
        var state = partitions[Int(slot)]
        state.active = false
        state.epoch &+= 1
        state.headSeq &+= UInt64(state.entries.count - state.head)
        state.entries.removeAll()
        state.head = 0
        state.committable = nil
        state.processed = nil
        state.acked = -1
        state.ackedTimestamp = -1
        partitions[Int(slot)] = state
    }

    // MARK: - Inputs

    mutating func beginInput(partition slot: Int32, offset: Int64, timestampMilliseconds: Int64) {
        currentPartition = slot
        currentOffset = offset
        currentTimestamp = timestampMilliseconds
        currentEntryOpen = false
    }

    /// Closes the input begun last. Inputs without outputs coalesce into the tail entry.
    mutating func endInput() {
        let slot = Int(currentPartition)
        guard slot >= 0, slot < partitions.count else { return }
        currentPartition = -1
        partitions[slot].processed = currentOffset + 1
        if currentEntryOpen {
            // Release the guard count that kept the entry from completing while it was filled.
            let index = partitions[slot].entries.count - 1
            partitions[slot].entries[index].outstanding -= 1
            advance(slot)
        } else if partitions[slot].isEmpty {
            partitions[slot].committable = currentOffset + 1
            partitions[slot].acked = currentOffset + 1
        } else {
            partitions[slot].entries[partitions[slot].entries.count - 1].offset = currentOffset
        }
    }

    // MARK: - Outputs

    /// Registers an output of the current input; returns its delivery token.
    mutating func addOutput(topicIndex: Int, modelVersion: UInt64 = 0) -> UInt64 {
        let slot = Int(currentPartition)
        var seq: UInt64 = 0
        var epoch: UInt32 = 0
        if slot >= 0, slot < partitions.count {
            if !currentEntryOpen {
                currentEntryOpen = true
                // outstanding starts at 1: a guard released by endInput().
                partitions[slot].entries.append(
                    Entry(offset: currentOffset, outstanding: 1, timestampMilliseconds: currentTimestamp))
            }
            let index = partitions[slot].entries.count - 1
            partitions[slot].entries[index].outstanding += 1
            seq = partitions[slot].headSeq &+ UInt64(index - partitions[slot].head)
            epoch = partitions[slot].epoch
        }
        let index: Int
        if let free = freeSlots.popLast() {
            index = Int(free)
        } else {
            index = pending.count
            pending.append(Pending())
        }
        pending[index].generation &+= 1
        pending[index].inUse = true
        pending[index].partition = Int32(slot)
        pending[index].epoch = epoch
        pending[index].seq = seq
        pending[index].topicIndex = topicIndex
        pending[index].modelVersion = modelVersion
        pending[index].attempts = 1
        unacked += 1
        return UInt64(pending[index].generation) << 32 | UInt64(index)
    }

    /// Access to a pending output's bookkeeping.
    mutating func withPending<T>(_ token: UInt64, _ body: (inout Pending) -> T) -> T? {
        guard let index = index(of: token) else { return nil }
        return body(&pending[index])
    }

    private func index(of token: UInt64) -> Int? {
        let index = Int(token & 0xFFFF_FFFF)
        guard index < pending.count, pending[index].inUse,
            pending[index].generation == UInt32(truncatingIfNeeded: token >> 32)
        else { return nil }
        return index
    }

    /// Whether the token's output still matters (its partition was not revoked meanwhile).
    func isCurrent(_ token: UInt64) -> Bool {
        guard let index = index(of: token) else { return false }
        return isCurrent(at: index)
    }

    private func isCurrent(at index: Int) -> Bool {
        let slot = Int(pending[index].partition)
        return slot >= 0 && slot < partitions.count && partitions[slot].active
            && partitions[slot].epoch == pending[index].epoch
    }

    /// The broker acknowledged the output (or it is given up on after a revoke): frees its slot
    /// and moves its input entry. Returns the output's topic index, or nil for an unknown token.
    @discardableResult
    mutating func acknowledge(_ token: UInt64) -> Int? {
        guard let index = index(of: token) else { return nil }
        let current = isCurrent(at: index)
        let (partition, seq, topicIndex) = (pending[index].partition, pending[index].seq, pending[index].topicIndex)
        pending[index].inUse = false
        freeSlots.append(Int32(index))
        unacked -= 1
        if current {
            let slot = Int(partition)
            let entryIndex = partitions[slot].head + Int(seq &- partitions[slot].headSeq)
            if entryIndex >= partitions[slot].head, entryIndex < partitions[slot].entries.count {
                partitions[slot].entries[entryIndex].outstanding -= 1
                advance(slot)
            }
        }
        return topicIndex
    }

    /// Pops completed head entries; the last popped offset + 1 becomes committable.
    /// Mutates the partition in place: a local copy would share its FIFO's buffer, and trimming
    /// that would reallocate it.
    private mutating func advance(_ slot: Int) {
        partitions.withUnsafeMutableBufferPointer { partitions in
            Self.advance(&partitions[slot])
        }
    }

    private static func advance(_ state: inout Partition) {
        guard !state.isEmpty, state.entries[state.head].outstanding == 0 else { return }
        while !state.isEmpty, state.entries[state.head].outstanding == 0 {
            let entry = state.entries[state.head]
            state.committable = entry.offset + 1
            state.acked = entry.offset + 1
            if entry.timestampMilliseconds > state.ackedTimestamp { state.ackedTimestamp = entry.timestampMilliseconds }
            state.head += 1
            state.headSeq &+= 1
        }
        if state.isEmpty {
            state.entries.removeAll(keepingCapacity: true)
            state.head = 0
        } else if state.head >= 1024, state.head * 2 >= state.entries.count {
            state.entries.removeFirst(state.head)
            state.head = 0
        }
    }

    // MARK: - Reading progress

    /// Offsets that became committable since the last call (active partitions only).
    mutating func takeCommittable() -> [TopicPartition: Int64] {
        var result: [TopicPartition: Int64] = [:]
        for index in partitions.indices where partitions[index].active {
            if let offset = partitions[index].committable {
                result[partitions[index].topicPartition] = offset
                partitions[index].committable = nil
            }
        }
        return result
    }

    /// Whether every output of the inputs before each position is acknowledged; positions are
    /// next offsets by ledger slot, -1 where there is nothing to wait for. A partition revoked
    /// since is never acknowledged.
    func isAcknowledged(through positions: [Int64]) -> Bool {
        for (slot, offset) in positions.enumerated() where offset >= 0 {
            guard slot < partitions.count, partitions[slot].active, partitions[slot].acked >= offset else { return false }
        }
        return true
    }

    /// One latency sample per partition per call: now minus the newest fully acknowledged input's
    /// timestamp. Sampling keeps histogram updates per batch instead of per event.
    mutating func takeLatencySamples(nowMilliseconds: Int64) -> [Int64] {
        var samples: [Int64] = []
        for index in partitions.indices where partitions[index].ackedTimestamp >= 0 {
            samples.append(max(0, nowMilliseconds - partitions[index].ackedTimestamp))
            partitions[index].ackedTimestamp = -1
        }
        return samples
    }

    /// Entries still waiting for acknowledgements, across partitions (for tests and logs).
    var waitingInputs: Int {
        partitions.reduce(0) { $0 + ($1.entries.count - $1.head) }
    }
}
