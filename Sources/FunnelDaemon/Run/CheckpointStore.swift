import FunnelCore
import FunnelKafka
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// One `run` checkpoint: the engine's state and the input positions it corresponds to.
///
/// File `checkpoint-<sequence>.fpck`: `FPRUNCK1` · u32 header length · header (JSON: the ledger
/// slots in order, each topic, partition and next offset, or -1 for a partition this process
/// did not own) · the engine checkpoint (its own magic, version and checksum) · CRC-32 of
/// everything before it. Written to a temporary file, fsynced, renamed, and the directory fsynced,
/// so a crash leaves either the old set of files or the new one, never a torn checkpoint.
struct RunCheckpoint: Equatable {
    struct Slot: Codable, Equatable {
        var topic: String
        var partition: Int32
        var offset: Int64
    }

    var slots: [Slot]
    var engine: [UInt8]

    static let magic = Array("FPRUNCK1".utf8)

    func encoded() throws -> [UInt8] {
        let header = try JSONEncoder().encode(slots)
        var out = Self.magic
        withUnsafeBytes(of: UInt32(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        out.append(contentsOf: engine)
        withUnsafeBytes(of: CRC32.checksum(out).littleEndian) { out.append(contentsOf: $0) }
        return out
    }

    init(slots: [Slot], engine: [UInt8]) {
        self.slots = slots
        self.engine = engine
    }

    init(decoding bytes: [UInt8]) throws(CheckpointError) {
        guard bytes.count >= 16, Array(bytes[0..<8]) == Self.magic else {
            throw CheckpointError("not a FunnelPulse run checkpoint (bad magic)")
        }
        let body = bytes[0..<(bytes.count - 4)]
        let stored = bytes[(bytes.count - 4)...].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        guard CRC32.checksum(body) == stored else { throw CheckpointError("checksum mismatch (corrupt or torn file)") }
        let headerLength = Int(bytes[8..<12].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) })
        guard 12 + headerLength <= body.count else { throw CheckpointError("header runs past the end") }
        do {
            slots = try JSONDecoder().decode([Slot].self, from: Data(bytes[12..<(12 + headerLength)]))
        } catch {
            throw CheckpointError("unreadable header: \(error)")
        }
        engine = Array(body[(12 + headerLength)...])
    }
}

/// Writes, lists and restores `run` checkpoints in one directory.
struct CheckpointStore: Sendable {
    let directory: URL
    let keep: Int
    let logger: Logger

    init(directory: String, keep: Int, logger: Logger) throws {
        self.directory = URL(fileURLWithPath: directory, isDirectory: true)
        self.keep = max(1, keep)
        self.logger = logger
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
    }

    /// Checkpoint files, newest first (by sequence number in the name).
    func files() -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.compactMap { name -> (UInt64, URL)? in
            guard name.hasPrefix("checkpoint-"), name.hasSuffix(".fpck"),
                let sequence = UInt64(name.dropFirst("checkpoint-".count).dropLast(".fpck".count))
            else { return nil }
            return (sequence, directory.appendingPathComponent(name))
        }
        .sorted { $0.0 > $1.0 }.map(\.1)
    }

    /// The newest checkpoint that reads and matches `config`; every one skipped is reported.
    func restore(config: EngineConfig) -> (checkpoint: RunCheckpoint, engine: Engine, file: URL)? {
        for file in files() {
            do {
                let bytes = [UInt8](try Data(contentsOf: file))
                let checkpoint = try RunCheckpoint(decoding: bytes)
                let engine = try Engine(config: config, checkpoint: checkpoint.engine)
                return (checkpoint, engine, file)
            } catch let error as CheckpointError {
                logger.error("checkpoint skipped", metadata: ["file": "\(file.path)", "reason": "\(error.message)"])
            } catch {
                logger.error("checkpoint skipped", metadata: ["file": "\(file.path)", "reason": "\(error)"])
            }
        }
        return nil
    }

    /// The file a checkpoint is written to before it is published (one at a time; restore
    /// ignores it).
    var temporary: URL { directory.appendingPathComponent(".checkpoint.tmp") }

    /// Writes and fsyncs the checkpoint to ``temporary``; returns its size. Not restorable until
    /// ``publishTemporary()``.
    func writeTemporary(_ checkpoint: RunCheckpoint) throws -> Int {
        let bytes = try checkpoint.encoded()
        try Self.writeSynced(bytes, to: temporary.path)
        return bytes.count
    }

    /// Renames ``temporary`` to the next sequence number, fsyncs the directory and prunes beyond
    /// `keep`: from here on it is the checkpoint a restart restores.
    func publishTemporary() throws -> URL {
        let existing = files()
        let next = (existing.first.flatMap { UInt64($0.deletingPathExtension().lastPathComponent.dropFirst("checkpoint-".count)) } ?? 0) + 1
        let final = directory.appendingPathComponent(String(format: "checkpoint-%012llu.fpck", next))
        guard rename(temporary.path, final.path) == 0 else {
            throw CheckpointError("rename \(temporary.path) → \(final.path): \(String(cString: strerror(errno)))")
        }
        Self.syncDirectory(directory.path)
        for old in files().dropFirst(keep) { try? FileManager.default.removeItem(at: old) }
        return final
    }

    /// Removes an unpublished ``temporary`` (its outputs were never all acknowledged).
    func discardTemporary() {
        unlink(temporary.path)
    }

    static func writeSynced(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CheckpointError("open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return Glibc.write(fd, base + written, raw.count - written)
            }
            guard n > 0 else { throw CheckpointError("write \(path): \(String(cString: strerror(errno)))") }
            written += n
        }
        guard fsync(fd) == 0 else { throw CheckpointError("fsync \(path): \(String(cString: strerror(errno)))") }
    }

    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
