import Foundation
import FunnelCore
import FunnelKafka
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// One input partition's handed-over state: the users the engine exported for it
/// (``Engine/exportPartition(source:)``) and the offset of the partition's next input after them.
///
/// Encoded as `FPPSTAT1` · u32 header length · header (JSON: topic, partition, offset) · the
/// engine's partition state (its own magic, version, checksum and configuration) · CRC-32 of
/// everything before it.
struct PartitionHandoverState: Equatable {
    struct Header: Codable, Equatable {
        var topic: String
        var partition: Int32
        var offset: Int64
    }

    var partition: TopicPartition
    var offset: Int64
    var state: [UInt8]

    static let magic = Array("FPPSTAT1".utf8)

    init(partition: TopicPartition, offset: Int64, state: [UInt8]) {
        self.partition = partition
        self.offset = offset
        self.state = state
    }

    func encoded() throws -> [UInt8] {
        let header = try JSONEncoder().encode(Header(topic: partition.topic, partition: partition.partition,
                                                     offset: offset))
        var out = Self.magic
        out.reserveCapacity(16 + header.count + state.count)
        withUnsafeBytes(of: UInt32(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        out.append(contentsOf: state)
        withUnsafeBytes(of: CRC32.checksum(out).littleEndian) { out.append(contentsOf: $0) }
        return out
    }

    init(decoding bytes: [UInt8]) throws(CheckpointError) {
        guard bytes.count >= 16, Array(bytes[0..<8]) == Self.magic else {
            throw CheckpointError("not a FunnelPulse partition handover state (bad magic)")
        }
        let body = bytes[0..<(bytes.count - 4)]
        let stored = bytes[(bytes.count - 4)...].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        guard CRC32.checksum(body) == stored else { throw CheckpointError("checksum mismatch (corrupt or torn state)") }
        let headerLength = Int(bytes[8..<12].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) })
        guard 12 + headerLength <= body.count else { throw CheckpointError("header runs past the end") }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(bytes[12..<(12 + headerLength)]))
        } catch {
            throw CheckpointError("unreadable header: \(error)")
        }
        partition = TopicPartition(topic: header.topic, partition: header.partition)
        offset = header.offset
        state = Array(body[(12 + headerLength)...])
    }
}

/// Where revoked partitions' states wait for their next owner (`checkpoint.handover`).
///
/// Called on the pipeline thread from the rebalance hooks: ``write(_:)`` must have made every
/// state durable when it returns (the revoke, and then the commit, wait for it), and ``read(_:)``
/// returns the newest state stored for each partition asked for.
protocol PartitionStateStore: AnyObject {
    /// `directory` or `topic`, for logs.
    var kind: String { get }
    func write(_ states: [PartitionHandoverState]) throws
    func read(_ partitions: [TopicPartition]) throws -> [TopicPartition: PartitionHandoverState]
}

/// States as files in `checkpoint.handover_directory` (default `<checkpoint directory>/partitions/`),
/// shared by the processes of one host:
/// `<topic>-<partition>.fpps`, written to a temporary file, fsynced, renamed over the previous
/// state and the directory fsynced (a crash leaves the old state or the new one, never a torn one).
final class DirectoryPartitionStateStore: PartitionStateStore {
    let directory: URL
    let logger: Logger
    var kind: String { "directory" }

    init(directory path: String, logger: Logger) throws {
        directory = URL(fileURLWithPath: path, isDirectory: true)
        self.logger = logger
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func file(for partition: TopicPartition) -> URL {
        directory.appendingPathComponent("\(partition.topic)-\(partition.partition).fpps")
    }

    func write(_ states: [PartitionHandoverState]) throws {
        for state in states {
            let final = file(for: state.partition)
            let temporary = directory.appendingPathComponent(".\(final.lastPathComponent).\(getpid()).tmp")
            try CheckpointStore.writeSynced(try state.encoded(), to: temporary.path)
            guard rename(temporary.path, final.path) == 0 else {
                throw CheckpointError("rename \(temporary.path) → \(final.path): \(String(cString: strerror(errno)))")
            }
        }
        if !states.isEmpty { CheckpointStore.syncDirectory(directory.path) }
    }

    func read(_ partitions: [TopicPartition]) throws -> [TopicPartition: PartitionHandoverState] {
        var out: [TopicPartition: PartitionHandoverState] = [:]
        for partition in partitions {
            let url = file(for: partition)
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            do {
                let state = try PartitionHandoverState(decoding: [UInt8](try Data(contentsOf: url)))
                guard state.partition == partition else {
                    throw CheckpointError("the file holds \(state.partition), not \(partition)")
                }
                out[partition] = state
            } catch {
                logger.error("partition state skipped", metadata: ["file": "\(url.path)", "reason": "\(error)"])
            }
        }
        return out
    }
}

/// States in a compacted Kafka topic, for processes on several hosts (the changelog topic of
/// Kafka Streams, written once per handover rather than on every update).
///
/// Key `<group>/<topic>/<partition>`. A state larger than `chunkBytes` is split: chunks 1… go to
/// keys `<key>#<i>` first, then chunk 0 (which names the chunk count and a generation) to the key
/// itself, so a reader never sees a head whose chunks were not written. Compaction keeps the last
/// record per key, i.e. the newest state; chunks left over from an older, longer state are
/// ignored (another generation). Records are flushed and their delivery checked before
/// ``write(_:)`` returns. ``read(_:)`` reads the whole topic to its current end with a short-lived,
/// group-less consumer (``KafkaTopicReader``): cheap for a compacted topic holding one state per
/// partition.
final class TopicPartitionStateStore: PartitionStateStore {
    let topic: String
    let group: String
    let chunkBytes: Int
    let producer: KafkaProducer
    let readerSettings: [String: String]
    let timeoutMilliseconds: Int32
    let logger: Logger
    var kind: String { "topic" }

    /// Chunk envelope: `FPHC` · generation (u64) · index (u32) · count (u32) · bytes.
    static let chunkMagic = Array("FPHC".utf8)
    static let chunkHeaderBytes = 4 + 8 + 4 + 4

    init(topic: String, group: String, chunkBytes: Int, producerSettings: [String: String],
         readerSettings: [String: String], timeoutMilliseconds: Int32, logger: Logger) throws {
        self.topic = topic
        self.group = group
        self.chunkBytes = max(1024, chunkBytes)
        self.readerSettings = readerSettings
        self.timeoutMilliseconds = timeoutMilliseconds
        self.logger = logger
        producer = try KafkaProducer(configuration: producerSettings, logger: logger)
    }

    func key(for partition: TopicPartition) -> String { "\(group)/\(partition.topic)/\(partition.partition)" }

    static func chunk(_ bytes: ArraySlice<UInt8>, generation: UInt64, index: Int, count: Int) -> [UInt8] {
        var out = chunkMagic
        out.reserveCapacity(chunkHeaderBytes + bytes.count)
        withUnsafeBytes(of: generation.littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(index).littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: bytes)
        return out
    }

    static func unchunk(_ value: [UInt8]) -> (generation: UInt64, index: Int, count: Int, bytes: ArraySlice<UInt8>)? {
        guard value.count >= chunkHeaderBytes, Array(value[0..<4]) == chunkMagic else { return nil }
        return value.withUnsafeBytes { raw in
            (UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt64.self)),
             Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self))),
             Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt32.self))),
             value[chunkHeaderBytes...])
        }
    }

    func write(_ states: [PartitionHandoverState]) throws {
        guard !states.isEmpty else { return }
        var sent = 0
        for state in states {
            let bytes = try state.encoded()
            let generation = UInt64.random(in: 1...UInt64.max)
            let count = max(1, (bytes.count + chunkBytes - 1) / chunkBytes)
            let base = key(for: state.partition)
            // Chunks 1… first, the head (chunk 0) last.
            for index in Array(1..<count) + [0] {
                let start = index * chunkBytes
                let value = Self.chunk(bytes[start..<min(bytes.count, start + chunkBytes)], generation: generation,
                                       index: index, count: count)
                let key = Array((index == 0 ? base : "\(base)#\(index)").utf8)
                try key.withUnsafeBytes { k in
                    try value.withUnsafeBytes { v in
                        try producer.send(topic: topic, key: k, value: v, token: UInt64(sent))
                    }
                }
                sent += 1
            }
            if count > 1 {
                logger.info("partition state chunked", metadata: [
                    "partition": "\(state.partition)", "bytes": "\(bytes.count)", "chunks": "\(count)",
                ])
            }
        }
        try producer.flush(timeoutMilliseconds: timeoutMilliseconds)
        var failure: KafkaError?
        producer.drainDeliveryReports { _, error in if failure == nil, let error { failure = error } }
        if let failure { throw failure }
    }

    func read(_ partitions: [TopicPartition]) throws -> [TopicPartition: PartitionHandoverState] {
        let wanted = Dictionary(uniqueKeysWithValues: partitions.map { (key(for: $0), $0) })
        // Newest record per key (compaction semantics, whether or not the log was compacted yet).
        var newest: [String: [UInt8]?] = [:]
        for record in try KafkaTopicReader.readAll(topic: topic, configuration: readerSettings,
                                                   timeoutMilliseconds: timeoutMilliseconds, logger: logger) {
            let key = String(decoding: record.key, as: UTF8.self)
            let base = key.split(separator: "#", maxSplits: 1).first.map(String.init) ?? key
            guard wanted[base] != nil else { continue }
            newest[key] = record.value
        }
        var out: [TopicPartition: PartitionHandoverState] = [:]
        for (base, partition) in wanted {
            guard let headValue = newest[base] ?? nil else { continue }
            do {
                guard let head = Self.unchunk(headValue), head.index == 0, head.count >= 1 else {
                    throw CheckpointError("not a partition state chunk")
                }
                var bytes = Array(head.bytes)
                for index in 1..<max(head.count, 1) {
                    guard let value = newest["\(base)#\(index)"] ?? nil, let chunk = Self.unchunk(value),
                        chunk.generation == head.generation, chunk.index == index
                    else { throw CheckpointError("chunk \(index) of \(head.count) is missing") }
                    bytes.append(contentsOf: chunk.bytes)
                }
                let state = try PartitionHandoverState(decoding: bytes)
                guard state.partition == partition else {
                    throw CheckpointError("the record holds \(state.partition), not \(partition)")
                }
                out[partition] = state
            } catch {
                logger.error("partition state skipped", metadata: [
                    "topic": "\(topic)", "key": "\(base)", "reason": "\(error)",
                ])
            }
        }
        return out
    }
}
