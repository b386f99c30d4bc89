import ArgumentParser
import FunnelCore
import Foundation

/// `handover`: the cost of a partition handover (``Engine/exportPartition(source:)`` and
/// ``Engine/importPartition(_:source:)``): users spread over `partitions` sources by key, one
/// partition moved to a second engine.
struct HandoverBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "handover", abstract: "Partition handover: export/import time and bytes.")

    @Option(name: .long, help: "Users over all partitions.") var users: Int = 1_000_000
    @Option(name: .long, help: "Events per user.") var eventsPerUser: Int = 4
    @Option(name: .long) var partitions: Int = 4
    @Option(name: .long, help: "Model on (pending labels with frozen features move too).") var model: Bool = true

    func run() throws {
        var config = EngineConfig()
        config.model.enabled = model
        config.maxUsers = users * 2
        var a = try Engine(config: config)
        var b = try Engine(config: config)
        Self.feed(&a, users: users, eventsPerUser: eventsPerUser, partitions: partitions)
        var bytes: [UInt8] = []
        let exportSeconds = BenchSupport.time {
            do { bytes = try a.exportPartition(source: 0) } catch { print("export failed: \(error)") }
        }
        let importSeconds = BenchSupport.time {
            do { try b.importPartition(bytes, source: 0) } catch { print("import failed: \(error)") }
        }
        let moved = b.handover.usersIn
        print(BenchSupport.row("handover", [
            ("users_moved", "\(moved)"), ("pending", "\(b.handover.pendingIn)"), ("carts", "\(b.handover.cartsIn)"),
            ("attempts", "\(b.handover.attemptsIn)"), ("bytes", "\(bytes.count)"),
            ("bytes_per_user", String(format: "%.0f", Double(bytes.count) / Double(max(moved, 1)))),
            ("export_ms", String(format: "%.1f", exportSeconds * 1000)),
            ("import_ms", String(format: "%.1f", importSeconds * 1000)),
            ("record_stride", "\(MemoryLayout<UserRecord>.stride)"),
        ]))
    }

    /// `users × eventsPerUser` synthetic events (views, carts, checkouts), users spread over
    /// `partitions` sources by key; `from` continues a stream at that event.
    static func feed(_ engine: inout Engine, users: Int, eventsPerUser: Int, partitions: Int, from: Int = 0) {
        var sink = CountingSink()
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        let kinds: [EventType] = [.view, .view, .cart, .view, .checkout, .view]
        for i in from..<(from + users * eventsPerUser) {
            var event = Event()
            event.userKey = StableHash.hash("user-\(i % users)")
            event.timestamp = 1_700_000_000_000_000 + Int64(i) * 10_000
            event.type = kinds[(i / users + i) % kinds.count]
            event.itemKey = StableHash.hash("i\(i % 997)")
            event.categoryKey = StableHash.hash("c\(i % 31)")
            event.price = 10
            let source = Int32(event.userKey % UInt64(max(partitions, 1)))
            engine.ingest(.event(event), record: empty, at: SourcePosition(source: source, offset: Int64(i)), sink: &sink)
        }
    }
}

/// `checkpoint`: the cost of a whole-engine checkpoint (``Engine/checkpoint()``) and of restoring
/// it. The daemon encodes on a writer thread; what its pipeline thread pays is the copy of the
/// engine value and, while the writer holds it, one copy of each buffer the next events change
/// (`next_*`: the same number of events fed with and without a live copy).
struct CheckpointBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint", abstract: "Whole-engine checkpoint: encode/restore time and bytes, pipeline cost.")

    @Option(name: .long, help: "Users (0: an engine that has seen nothing).") var users: Int = 100_000
    @Option(name: .long, help: "Events per user.") var eventsPerUser: Int = 4
    @Option(name: .long, help: "Events fed after the copy (and before it, for the baseline).") var next: Int = 2_000
    @Option(name: .long) var model: Bool = true

    func run() throws {
        var config = EngineConfig()
        config.model.enabled = model
        config.maxUsers = max(users * 2, 1024)
        var engine = try Engine(config: config)
        let fed = users * eventsPerUser
        if users > 0 { HandoverBench.feed(&engine, users: users, eventsPerUser: eventsPerUser, partitions: 1) }
        // `next` more events with no copy alive, then the same number with one.
        let batchUsers = max(1, min(users, next))
        let batchEvents = max(1, next / batchUsers)
        let baselineSeconds = BenchSupport.time {
            HandoverBench.feed(&engine, users: batchUsers, eventsPerUser: batchEvents, partitions: 1, from: fed)
        }
        var snapshot: Engine?
        let copySeconds = BenchSupport.time { snapshot = engine }
        let firstSeconds = BenchSupport.time {
            HandoverBench.feed(&engine, users: 1, eventsPerUser: 1, partitions: 1, from: fed + batchUsers * batchEvents)
        }
        let withCopySeconds = firstSeconds + BenchSupport.time {
            HandoverBench.feed(&engine, users: batchUsers, eventsPerUser: batchEvents, partitions: 1,
                               from: fed + batchUsers * batchEvents + 1)
        }
        guard let copied = snapshot else { return }
        var bytes: [UInt8] = []
        let encodeSeconds = BenchSupport.time {
            do { bytes = try copied.checkpoint() } catch { print("checkpoint failed: \(error)") }
        }
        var restoredUsers = -1
        let restoreSeconds = BenchSupport.time {
            do { restoredUsers = try Engine(config: config, checkpoint: bytes).users.count } catch { print("restore failed: \(error)") }
        }
        print(BenchSupport.row("checkpoint", [
            ("users", "\(copied.users.count)"), ("restored_users", "\(restoredUsers)"),
            ("pending", "\(copied.model?.pending.count ?? 0)"), ("bytes", "\(bytes.count)"),
            ("encode_ms", String(format: "%.1f", encodeSeconds * 1000)),
            ("restore_ms", String(format: "%.1f", restoreSeconds * 1000)),
            ("copy_ms", String(format: "%.3f", copySeconds * 1000)),
            ("next_events", "\(batchUsers * batchEvents)"),
            ("next_ms", String(format: "%.1f", baselineSeconds * 1000)),
            ("next_with_copy_ms", String(format: "%.1f", withCopySeconds * 1000)),
            ("first_with_copy_ms", String(format: "%.1f", firstSeconds * 1000)),
        ]))
    }
}
