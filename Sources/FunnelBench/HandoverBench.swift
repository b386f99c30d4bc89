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
    /// `partitions` sources by key.
    static func feed(_ engine: inout Engine, users: Int, eventsPerUser: Int, partitions: Int) {
        var sink = CountingSink()
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        let kinds: [EventType] = [.view, .view, .cart, .view, .checkout, .view]
        for i in 0..<(users * eventsPerUser) {
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

/// `checkpoint`: the cost of a whole-engine checkpoint (``Engine/checkpoint()``), which the daemon
/// takes on its pipeline thread every `checkpoint.interval_seconds`, and of restoring it.
struct CheckpointBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint", abstract: "Whole-engine checkpoint: encode/restore time and bytes.")

    @Option(name: .long, help: "Users (0: an engine that has seen nothing).") var users: Int = 100_000
    @Option(name: .long, help: "Events per user.") var eventsPerUser: Int = 4
    @Option(name: .long) var model: Bool = true

    func run() throws {
        var config = EngineConfig()
        config.model.enabled = model
        config.maxUsers = max(users * 2, 1024)
        var engine = try Engine(config: config)
        if users > 0 { HandoverBench.feed(&engine, users: users, eventsPerUser: eventsPerUser, partitions: 1) }
        var bytes: [UInt8] = []
        let encodeSeconds = BenchSupport.time {
            do { bytes = try engine.checkpoint() } catch { print("checkpoint failed: \(error)") }
        }
        var restoredUsers = -1
        let restoreSeconds = BenchSupport.time {
            do { restoredUsers = try Engine(config: config, checkpoint: bytes).users.count } catch { print("restore failed: \(error)") }
        }
        print(BenchSupport.row("checkpoint", [
            ("users", "\(engine.users.count)"), ("restored_users", "\(restoredUsers)"),
            ("pending", "\(engine.model?.pending.count ?? 0)"), ("bytes", "\(bytes.count)"),
            ("encode_ms", String(format: "%.1f", encodeSeconds * 1000)),
            ("restore_ms", String(format: "%.1f", restoreSeconds * 1000)),
        ]))
    }
}
