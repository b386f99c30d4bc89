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
        var sink = CountingSink()
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        let kinds: [EventType] = [.view, .view, .cart, .view, .checkout, .view]
        let events = users * eventsPerUser
        for i in 0..<events {
            var event = Event()
            event.userKey = StableHash.hash("user-\(i % users)")
            event.timestamp = 1_700_000_000_000_000 + Int64(i) * 10_000
            event.type = kinds[(i / users + i) % kinds.count]
            event.itemKey = StableHash.hash("i\(i % 997)")
            event.categoryKey = StableHash.hash("c\(i % 31)")
            event.price = 10
            let source = Int32(event.userKey % UInt64(partitions))
            a.ingest(.event(event), record: empty, at: SourcePosition(source: source, offset: Int64(i)), sink: &sink)
        }
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
}
