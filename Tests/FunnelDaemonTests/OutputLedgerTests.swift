import FunnelKafka
import Testing

@testable import FunnelDaemon

/// The at-least-once rule of `run`: an input offset becomes committable only once every output of
/// it and of every earlier input of its partition is acknowledged.
@Suite struct OutputLedgerTests {
    static let partition = TopicPartition(topic: "in", partition: 0)

    /// Processes one input with `outputs` outputs; returns their tokens.
    static func input(_ ledger: inout OutputLedger, slot: Int32, offset: Int64, outputs: Int) -> [UInt64] {
        ledger.beginInput(partition: slot, offset: offset, timestampMilliseconds: offset)
        var tokens: [UInt64] = []
        for _ in 0..<outputs {
            tokens.append(ledger.addOutput(topicIndex: 0, modelVersion: UInt64(offset)))
        }
        ledger.endInput()
        return tokens
    }

    @Test func offsetsCommitOnlyBehindEveryAcknowledgedOutput() {
        var ledger = OutputLedger()
        let slot = ledger.activate(Self.partition)
        let a = Self.input(&ledger, slot: slot, offset: 10, outputs: 2)
        _ = Self.input(&ledger, slot: slot, offset: 11, outputs: 0)  // joins offset 10's entry
        let c = Self.input(&ledger, slot: slot, offset: 12, outputs: 1)
        #expect(ledger.takeCommittable().isEmpty)
        #expect(ledger.unacked == 3)
        // Acks out of order: offset 12's output first commits nothing.
        #expect(ledger.acknowledge(c[0]) == 0)
        #expect(ledger.takeCommittable().isEmpty)
        ledger.acknowledge(a[1])
        #expect(ledger.takeCommittable().isEmpty)
        ledger.acknowledge(a[0])
        // Everything through offset 12 is acknowledged: the next offset to read is 13.
        #expect(ledger.takeCommittable() == [Self.partition: 13])
        #expect(ledger.unacked == 0)
        #expect(ledger.waitingInputs == 0)
        // An input without outputs behind an empty FIFO is committable at once.
        _ = Self.input(&ledger, slot: slot, offset: 13, outputs: 0)
        #expect(ledger.takeCommittable() == [Self.partition: 14])
    }

    /// What a checkpoint waits for before it is published: every output of the inputs before its
    /// positions acknowledged, whether or not the committable offsets were taken meanwhile.
    @Test func checkpointPositionsAreAcknowledgedOnlyBehindEveryOutput() {
        var ledger = OutputLedger()
        let first = ledger.activate(Self.partition)
        let second = ledger.activate(TopicPartition(topic: "in", partition: 1))
        let a = Self.input(&ledger, slot: first, offset: 0, outputs: 1)
        let b = Self.input(&ledger, slot: second, offset: 5, outputs: 2)
        // Positions taken here: partition 0 at 1, partition 1 at 6; later input moves nothing.
        let positions: [Int64] = [1, 6]
        let c = Self.input(&ledger, slot: first, offset: 1, outputs: 1)
        #expect(!ledger.isAcknowledged(through: positions))
        ledger.acknowledge(a[0])
        #expect(ledger.takeCommittable() == [Self.partition: 1])
        #expect(!ledger.isAcknowledged(through: positions))
        ledger.acknowledge(b[1])
        #expect(!ledger.isAcknowledged(through: positions))
        ledger.acknowledge(b[0])
        // Offset 1's output is still out: it is after the checkpoint, so it does not hold it back.
        #expect(ledger.isAcknowledged(through: positions))
        #expect(!ledger.isAcknowledged(through: [2, 6]))
        ledger.acknowledge(c[0])
        #expect(ledger.isAcknowledged(through: [2, 6]))
        // A partition not owned when the checkpoint was taken (-1) waits for nothing; one that
        // was revoked since cannot be confirmed.
        #expect(ledger.isAcknowledged(through: [-1, 6]))
        ledger.deactivate(Self.partition)
        #expect(!ledger.isAcknowledged(through: [2, 6]))
    }

    @Test func aTokenIsUsedOnceAndARevokedPartitionsOutputsMoveNothing() {
        var ledger = OutputLedger()
        let slot = ledger.activate(Self.partition)
        let a = Self.input(&ledger, slot: slot, offset: 0, outputs: 1)
        #expect(ledger.isCurrent(a[0]))
        ledger.acknowledge(a[0])
        #expect(ledger.acknowledge(a[0]) == nil)  // a duplicate report
        #expect(ledger.takeCommittable() == [Self.partition: 1])
        let b = Self.input(&ledger, slot: slot, offset: 1, outputs: 1)
        ledger.deactivate(Self.partition)
        #expect(!ledger.isCurrent(b[0]))
        ledger.acknowledge(b[0])
        #expect(ledger.takeCommittable().isEmpty)
        #expect(ledger.unacked == 0)
    }

    /// Slots are reused under a new generation: a second report for a recycled slot's old token
    /// (a duplicate or late delivery report) moves nothing.
    @Test func lateReportForRecycledSlotIsIgnored() {
        var ledger = OutputLedger()
        let slot = ledger.activate(Self.partition)
        let first = Self.input(&ledger, slot: slot, offset: 0, outputs: 1)[0]
        #expect(ledger.acknowledge(first) == 0)
        #expect(ledger.takeCommittable() == [Self.partition: 1])
        let second = Self.input(&ledger, slot: slot, offset: 1, outputs: 1)[0]
        #expect(second & 0xFFFF_FFFF == first & 0xFFFF_FFFF)  // the same slot, a new generation
        #expect(second != first)
        #expect(ledger.withPending(second) { $0.modelVersion } == 1)
        #expect(ledger.acknowledge(first) == nil)
        #expect(ledger.unacked == 1)
        #expect(ledger.takeCommittable().isEmpty)
        #expect(ledger.acknowledge(second) == 0)
        #expect(ledger.takeCommittable() == [Self.partition: 2])
    }
}
