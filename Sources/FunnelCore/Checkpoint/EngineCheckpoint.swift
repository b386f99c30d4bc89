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
    /// 2: user records carry their source (partition handover), the engine its handover counters.
    /// 3: model feature layout 2. 4: timer and reorder queues are an in-order run plus a heap.
    /// 5: user index entries carry key tag bits. 6: the model's category rates (feature layout 3).
    /// 7: pending labels as their live entries only (the store keeps them in blocks).
    /// 8: the model's excluded feature templates (`engine.model.exclude_features`).
    public static let checkpointVersion: UInt32 = 8

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
        return CheckpointFrame.wrap(payload, magic: Self.checkpointMagic, version: Self.checkpointVersion)
    }

    /// An engine in the state of `bytes`, which must have been taken with `config`.
    public init(config: EngineConfig, checkpoint bytes: [UInt8]) throws(CheckpointError) {
        let payload = try CheckpointFrame.unwrap(bytes, magic: Self.checkpointMagic, version: Self.checkpointVersion,
                                                 what: "checkpoint")
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

/// The envelope of checkpoints and partition states: magic (8 bytes) · format version (u32) ·
/// payload length (u64) · CRC-32 of the payload (u32) · payload, little-endian.
enum CheckpointFrame {
    static let headerBytes = 8 + 4 + 8 + 4

    static func wrap(_ payload: [UInt8], magic: [UInt8], version: UInt32) -> [UInt8] {
        var out = magic
        out.reserveCapacity(headerBytes + payload.count)
        BinarySink.append(version, to: &out)
        BinarySink.append(UInt64(payload.count), to: &out)
        BinarySink.append(CRC32.checksum(payload), to: &out)
        out.append(contentsOf: payload)
        return out
    }

    /// The payload, after checking magic, version, length and checksum; `what` names the kind of
    /// byte string in the errors ("checkpoint", "partition state").
    static func unwrap(_ bytes: [UInt8], magic: [UInt8], version expected: UInt32,
                       what: String) throws(CheckpointError) -> [UInt8] {
        guard bytes.count >= headerBytes, Array(bytes[0..<8]) == magic else {
            throw CheckpointError("not a FunnelPulse \(what) (bad magic)")
        }
        let header = BinarySource(bytes: Array(bytes[8..<headerBytes]))
        let version: UInt32
        let length: UInt64
        let crc: UInt32
        do {
            version = try header.read(UInt32.self)
            length = try header.read(UInt64.self)
            crc = try header.read(UInt32.self)
        } catch {
            throw CheckpointError("truncated \(what) header")
        }
        guard version == expected else {
            throw CheckpointError("\(what) format \(version) is not supported (this build reads \(expected))")
        }
        guard length == UInt64(bytes.count - headerBytes) else {
            throw CheckpointError("\(what) is \(bytes.count - headerBytes) payload bytes, header says \(length)")
        }
        let payload = Array(bytes[headerBytes...])
        guard CRC32.checksum(payload) == crc else { throw CheckpointError("\(what) checksum mismatch (corrupt)") }
        return payload
    }
}
