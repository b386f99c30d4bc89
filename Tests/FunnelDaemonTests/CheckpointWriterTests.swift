import FunnelTestSupport
import Foundation
import FunnelCore
import FunnelKafka
import Testing

@testable import FunnelDaemon

/// The checkpoint writer thread: what it writes is the engine as the pipeline copied it.
@Suite("Checkpoint writer")
struct CheckpointWriterTests {
    /// A checkpoint store in a fresh directory (the caller removes it) and a writer on it.
    static func writer() throws -> (directory: String, store: CheckpointStore, writer: CheckpointWriter) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(RunSupport.unique("ckpt-writer")).path
        let store = try CheckpointStore(directory: directory, keep: 3, logger: RunSupport.logger())
        return (directory, store, CheckpointWriter(store: store))
    }

    @Test("the file holds the engine as copied, while the pipeline's engine moves on during the write",
          .timeLimit(.minutes(1)))
    func writesTheCopyNotTheMovingEngine() throws {
        let (directory, store, writer) = try Self.writer()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = RunSupport.engineConfig()
        #expect(config.model.enabled)
        var engine = try Engine(config: config)
        try RunSupport.feed(RunSupport.events(3_000, users: 200), into: &engine)
        let copied = engine
        let slots = [RunCheckpoint.Slot(topic: "clicks", partition: 0, offset: 3_000)]
        #expect(writer.submit(.init(engine: engine, slots: slots, generation: 7, stall: .milliseconds(2))))
        // Every buffer the engine shares with the copy changes while the writer encodes it:
        // users, funnel counters, the model's weights and its pending labels.
        try RunSupport.feed(RunSupport.events(3_000, users: 200, firstID: 3_000), into: &engine, firstOffset: 3_000)
        #expect(writer.waitIdle(within: .seconds(30)))
        let outcome = try #require(writer.takeOutcome())
        #expect(writer.takeOutcome() == nil)
        let bytes = try outcome.result.get()
        #expect(outcome.slots == slots && outcome.generation == 7 && outcome.users == copied.users.count)
        // Written, not yet published: nothing a restart would restore.
        #expect(store.files().isEmpty && store.restore(config: config) == nil)
        let file = try store.publishTemporary()
        #expect(store.files() == [file])
        #expect(try Data(contentsOf: file).count == bytes)

        let restored = try #require(store.restore(config: config))
        #expect(restored.checkpoint.slots == slots)
        // Byte for byte the state of the copy (restore fidelity itself is CheckpointTests' subject).
        #expect(try restored.checkpoint.engine == copied.checkpoint())
        // The engine that moved on is another state (so the comparison above can fail).
        #expect(try engine.checkpoint() != copied.checkpoint())
        #expect(restored.engine.stats.read == 3_000 && engine.stats.read == 6_000)
    }

    @Test("a checkpoint records where each partition's state is, and waits only for what was read")
    func positionsOfReadRestoredAndUnknownPartitions() {
        var ledger = OutputLedger()
        let read = TopicPartition(topic: "in", partition: 0)  // read up to offset 40
        let assigned = TopicPartition(topic: "in", partition: 1)  // its state at 30, nothing read yet
        let joining = TopicPartition(topic: "in", partition: 2)  // restored at 70, not assigned yet
        let revoked = TopicPartition(topic: "in", partition: 3)  // read, then revoked
        let fresh = TopicPartition(topic: "in", partition: 4)  // assigned, nothing known or read
        let first = ledger.activate(read)
        ledger.beginInput(partition: first, offset: 40, timestampMilliseconds: 0)
        let token = ledger.addOutput(topicIndex: 0)
        ledger.endInput()
        _ = ledger.activate(assigned)
        _ = ledger.activate(joining)
        ledger.deactivate(joining)
        let fourth = ledger.activate(revoked)
        ledger.beginInput(partition: fourth, offset: 9, timestampMilliseconds: 0)
        ledger.endInput()
        ledger.deactivate(revoked)
        _ = ledger.activate(fresh)

        let positions = Pipeline.checkpointPositions(ledger.partitions, assignedFrom: [assigned: 30],
                                                     startOffsets: [joining: 70])
        #expect(positions.slots.map(\.offset) == [41, 30, 70, -1, -1])
        #expect(positions.slots.map(\.partition) == [0, 1, 2, 3, 4])
        #expect(positions.awaiting == [41, -1, -1, -1, -1])
        #expect(!ledger.isAcknowledged(through: positions.awaiting))
        ledger.acknowledge(token)
        #expect(ledger.isAcknowledged(through: positions.awaiting))
    }

    @Test("a discarded checkpoint is never published; the next one is")
    func discardedCheckpointsAreNotRestored() throws {
        let (directory, store, writer) = try Self.writer()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = RunSupport.engineConfig()
        var engine = try Engine(config: config)
        try RunSupport.feed(RunSupport.events(100), into: &engine)
        #expect(writer.submit(.init(engine: engine, slots: [], generation: 0, stall: .zero)))
        #expect(writer.waitIdle(within: .seconds(30)))
        #expect(try writer.takeOutcome()?.result.get() != nil)
        store.discardTemporary()
        #expect(store.files().isEmpty && store.restore(config: config) == nil)
        #expect(throws: CheckpointError.self) { try store.publishTemporary() }

        try RunSupport.feed(RunSupport.events(100, firstID: 100), into: &engine, firstOffset: 100)
        #expect(writer.submit(.init(engine: engine, slots: [], generation: 0, stall: .zero)))
        #expect(writer.waitIdle(within: .seconds(30)))
        _ = try writer.takeOutcome()?.result.get()
        _ = try store.publishTemporary()
        #expect(store.restore(config: config)?.engine.stats.read == 200)
    }

    @Test("a write that fails is reported with its reason and leaves no file", .timeLimit(.minutes(1)))
    func failedWritesAreReported() throws {
        let (directory, _, writer) = try Self.writer()
        try FileManager.default.removeItem(atPath: directory)
        let engine = try Engine(config: RunSupport.engineConfig())
        #expect(writer.submit(.init(engine: engine, slots: [], generation: 0, stall: .zero)))
        #expect(writer.waitIdle(within: .seconds(30)))
        let outcome = try #require(writer.takeOutcome())
        guard case .failure(let error) = outcome.result else {
            Issue.record("the write into a removed directory succeeded")
            return
        }
        #expect(error.message.contains("open") && error.message.contains(directory))
        #expect(!FileManager.default.fileExists(atPath: directory))
        // The writer is free for the next one.
        #expect(!writer.isBusy)
    }
}
