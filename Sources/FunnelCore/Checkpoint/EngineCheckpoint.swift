/// Engine checkpoints: everything the engine holds — user windows, funnel counters and their
/// reorder/expiry queues, the dedupe table, per-source watermarks, the model with its optimiser
/// state and pending labels, the alert detectors — as one versioned, checksummed byte string.
///
/// Layout (little-endian): `FPCHECK1` magic · format version (u32) · payload length (u64) ·
/// CRC-32 of the payload (u32) · payload (``BinaryCoder`` of the engine). The payload embeds the
/// engine configuration; a checkpoint restores only into an engine with the same configuration.
/// Restoring and then feeding the rest of the input gives exactly the outputs an uninterrupted
/// engine gives (tested), which is what lets a restarted daemon resume from the checkpoint's
/// input offsets.
extension Engine {
    public static let checkpointMagic: [UInt8] = Array("FPCHECK1".utf8)
    public static let checkpointVersion: UInt32 = 1
    static let checkpointHeaderBytes = 8 + 4 + 8 + 4

    /// The engine's whole state.
    public func checkpoint() throws(CheckpointError) -> [UInt8] {
        let payload: [UInt8]
        do {
            payload = try BinaryCoder.encode(self)
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError("cannot encode the engine state: \(error)")
        }
        var out = Self.checkpointMagic
        out.reserveCapacity(Self.checkpointHeaderBytes + payload.count)
        BinarySink.append(Self.checkpointVersion, to: &out)
        BinarySink.append(UInt64(payload.count), to: &out)
        BinarySink.append(CRC32.checksum(payload), to: &out)
        out.append(contentsOf: payload)
        return out
    }

    /// An engine in the state of `bytes`, which must have been taken with `config`.
    public init(config: EngineConfig, checkpoint bytes: [UInt8]) throws(CheckpointError) {
        guard bytes.count >= Self.checkpointHeaderBytes, Array(bytes[0..<8]) == Self.checkpointMagic else {
            throw CheckpointError("not a FunnelPulse checkpoint (bad magic)")
        }
        let header = BinarySource(bytes: Array(bytes[8..<Self.checkpointHeaderBytes]))
        let version: UInt32
        let length: UInt64
        let crc: UInt32
        do {
            version = try header.read(UInt32.self)
            length = try header.read(UInt64.self)
            crc = try header.read(UInt32.self)
        } catch {
            throw CheckpointError("truncated checkpoint header")
        }
        guard version == Self.checkpointVersion else {
            throw CheckpointError("checkpoint format \(version) is not supported (this build reads \(Self.checkpointVersion))")
        }
        guard length == UInt64(bytes.count - Self.checkpointHeaderBytes) else {
            throw CheckpointError("checkpoint is \(bytes.count - Self.checkpointHeaderBytes) payload bytes, header says \(length)")
        }
        let payload = Array(bytes[Self.checkpointHeaderBytes...])
        guard CRC32.checksum(payload) == crc else { throw CheckpointError("checkpoint checksum mismatch (corrupt)") }
        let restored: Engine
        do {
            restored = try BinaryCoder.decode(Engine.self, from: payload)
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError("cannot decode the engine state: \(error)")
        }
        guard restored.config == config else {
            throw CheckpointError("the checkpoint was taken with another engine configuration")
        }
        self = restored
    }
}
