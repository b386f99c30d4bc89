/// Partition handover: the per-user state of one input partition, moved between engines on a
/// consumer-group rebalance (the changelog idea of Kafka Streams, at the granularity of a
/// rebalance rather than of every update).
///
/// Users belong to the source (partition slot) of the last event they had (``UserRecord/source``);
/// with input keyed by user that is their partition. ``Engine/exportPartition(source:)`` detaches
/// those users with everything keyed by them — windows and sessions (the records), pending labels
/// with their frozen features, open carts with their deadlines, open funnel attempts with their
/// expiries and the user's events still in the funnel reorder buffer — and the partition's
/// event-time progress. ``Engine/importPartition(_:source:)`` attaches them to another engine,
/// which continues them exactly as the old owner would have.
///
/// What stays with the host: the model and its optimiser, the funnel counters and windows (what a
/// moved user entered is counted where it happened), the alert baselines and firing state, the
/// per-ip/device fraud tables, the dedupe table, live quality. They describe the host's traffic,
/// not a partition's, and cannot be split by user.
///
/// Layout: `FPPARTS1` magic · format version (u32) · payload length (u64) · CRC-32 (u32) · payload
/// (``BinaryCoder``, embedding the engine configuration: a state imports only into an engine with
/// the same configuration, since windows, buckets and feature layout depend on it).
extension Engine {
    public static let partitionMagic: [UInt8] = Array("FPPARTS1".utf8)
    /// 4: the embedded configuration carries the model's excluded feature templates.
    public static let partitionVersion: UInt32 = 4

    struct PartitionPayload: Codable {
        var config: EngineConfig
        var sourceMaxTime: Int64
        var users: [UserRecord]
        var pending: [PendingStore.Handed]
        var carts: [CartAbandonmentTracker.Handed]
        var funnels: FunnelTracker.Handed
    }

    /// Detaches the users last seen on `source` and everything keyed by them, as a byte string
    /// for ``importPartition(_:source:)`` on the partition's next owner. Nothing is counted as
    /// evicted, expired, dropped or resolved here; ``handover`` counts what left.
    public mutating func exportPartition(source: Int32) throws(CheckpointError) -> [UInt8] {
        let records = users.take { $0.source == source }
        let keys = records.map(\.key)
        let keySet = Set(keys)
        let pending = model?.handOver(users: keys) ?? []
        let carts = alerts?.handOverCarts(users: keySet) ?? []
        let funnelState = handOverFunnels(users: keySet)
        let maxTime = source >= 0 && Int(source) < sources.maxTime.count ? sources.maxTime[Int(source)] : .min
        let payload = PartitionPayload(config: config, sourceMaxTime: maxTime, users: records, pending: pending,
                                       carts: carts, funnels: funnelState)
        let bytes: [UInt8]
        do {
            bytes = try BinaryCoder.encode(payload)
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError("cannot encode the partition state: \(error)")
        }
        handover.exports += 1
        handover.usersOut += records.count
        handover.pendingOut += pending.count
        handover.cartsOut += carts.count
        handover.attemptsOut += funnelState.attempts.count
        return CheckpointFrame.wrap(bytes, magic: Self.partitionMagic, version: Self.partitionVersion)
    }

    /// Attaches a partition state exported by another engine (or this one, earlier) to `source`
    /// (this engine's slot for the partition). Checks magic, version, checksum and configuration
    /// before changing anything. A user already tracked here keeps whichever record has the newer
    /// `lastSeen` (ties: the local one), with the pending labels, cart and attempts that go with it.
    public mutating func importPartition(_ bytes: [UInt8], source: Int32) throws(CheckpointError) {
        let body = try CheckpointFrame.unwrap(bytes, magic: Self.partitionMagic, version: Self.partitionVersion,
                                              what: "partition state")
        let payload: PartitionPayload
        do {
            payload = try BinaryCoder.decode(PartitionPayload.self, from: body)
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError("cannot decode the partition state: \(error)")
        }
        guard payload.config == config else {
            throw CheckpointError("the partition state was exported with another engine configuration")
        }
        // Which imported users won against a local record of the same user (decided before the
        // insert, which changes what is local).
        var lost = Set<UInt64>()
        for record in payload.users {
            if let slot = users.slot(of: record.key), users[slot].lastSeen >= record.lastSeen { lost.insert(record.key) }
        }
        let kept = users.insert(handedOver: payload.users, source: source)
        let keep: (UInt64) -> Bool = { !lost.contains($0) }
        model?.takeOver(payload.pending.filter { keep($0.user) })
        alerts?.takeOverCarts(payload.carts, keep: keep)
        let attempts = takeOverFunnels(payload.funnels, keep: keep)
        takeOverSourceProgress(payload.sourceMaxTime, source: source)
        handover.imports += 1
        handover.usersIn += kept
        handover.usersKeptLocal += lost.count
        handover.pendingIn += payload.pending.count { keep($0.user) }
        handover.cartsIn += payload.carts.count { keep($0.user) }
        handover.attemptsIn += attempts
    }
}

/// Partition handovers of one engine. Handed over is not dropped: users, labels, carts and
/// attempts that left are counted here, never as evictions, expiries or drops.
public struct HandoverStats: Sendable, Equatable, Codable {
    public var exports = 0
    public var imports = 0
    public var usersOut = 0
    public var usersIn = 0
    /// Imported users whose local record was newer and kept.
    public var usersKeptLocal = 0
    public var pendingOut = 0
    public var pendingIn = 0
    public var cartsOut = 0
    public var cartsIn = 0
    public var attemptsOut = 0
    public var attemptsIn = 0

    public init() {}
}
