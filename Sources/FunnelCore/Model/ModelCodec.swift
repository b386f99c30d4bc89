/// Why a saved model cannot be used.
public struct ModelError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "model: \(message)" }
}

/// The saved-model binary format, version 2 (docs/model-format.md). Little-endian throughout:
///
///     0  "FPLR"            magic
///     4  u32  2            format version
///     8  u64  fingerprint  feature layout (FeatureExtractor.fingerprint)
///    16  u32  hash bits
///    20  u8   optimizer    0 = FTRL-Proximal, 1 = AdaGrad; then 3 zero bytes
///    24  f64 ×5            alpha, beta, l1, l2, offset
///    64  u64  updates      examples learned (the model version)
///    72  u64  n            number of f32 state values (2 · 2^bits)
///    80  f32 ×n            state, interleaved per slot
///   ...  i64  rate step    decay step of the category rates (Int64.min: none yet)
///   ...  f64 ×2            the stream's decayed events and purchases
///   ...  u32  k            category slots (2^16)
///   ...  f64 ×2k           (events, purchases) per category slot, interleaved
///   ...  u32  CRC-32       of every byte before it
enum ModelCodec {
    static let magic: [UInt8] = Array("FPLR".utf8)
    static let formatVersion: UInt32 = 2
    static let headerBytes = 80

    static func encode(_ model: OnlineLogistic, rates: CategoryRates, fingerprint: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(headerBytes + model.state.count * 4 + 32 + rates.counts.count * 8)
        out.append(contentsOf: magic)
        put(&out, formatVersion)
        put(&out, fingerprint)
        put(&out, UInt32(model.hashBits))
        out.append(contentsOf: [model.optimizer == .ftrl ? 0 : 1, 0, 0, 0])
        for d in [model.alpha, model.beta, model.l1, model.l2, model.offset] { put(&out, d.bitPattern) }
        put(&out, model.updates)
        put(&out, UInt64(model.state.count))
        for f in model.state { put(&out, f.bitPattern) }
        put(&out, UInt64(bitPattern: rates.step ?? .min))
        put(&out, rates.events.bitPattern)
        put(&out, rates.purchases.bitPattern)
        put(&out, UInt32(CategoryRates.slots))
        for f in rates.counts { put(&out, f.bitPattern) }
        put(&out, CRC32.checksum(out))
        return out
    }

    static func decode(_ bytes: [UInt8], fingerprint: UInt64, config: ModelConfig)
        throws(ModelError) -> (OnlineLogistic, CategoryRates)
    {
        guard bytes.count >= headerBytes + 4, Array(bytes[0..<4]) == magic else {
            throw ModelError("not a FunnelPulse model file (bad magic or too short)")
        }
        let version: UInt32 = get(bytes, 4)
        guard version == formatVersion else {
            throw ModelError("format version \(version) is not supported (this build reads \(formatVersion))")
        }
        let stored: UInt32 = get(bytes, bytes.count - 4)
        guard CRC32.checksum(bytes[0..<(bytes.count - 4)]) == stored else {
            throw ModelError("checksum mismatch: the file is truncated or corrupt")
        }
        let savedFingerprint: UInt64 = get(bytes, 8)
        let bits = Int(get(bytes, 16) as UInt32)
        guard savedFingerprint == fingerprint, bits == config.hashBits else {
            throw ModelError(
                "the model was built for another feature configuration (hash_bits \(bits), layout "
                    + "\(hex(savedFingerprint))); this engine uses hash_bits \(config.hashBits), layout "
                    + "\(hex(fingerprint)) — window_seconds, horizon_seconds, hash_bits and the feature "
                    + "layout version must all match")
        }
        let optimizer: ModelConfig.Optimizer = bytes[20] == 0 ? .ftrl : .adagrad
        guard bytes[20] <= 1 else { throw ModelError("unknown optimizer code \(bytes[20])") }
        guard optimizer == config.optimizer else {
            throw ModelError("the model was trained with \(optimizer.rawValue), the configuration asks for \(config.optimizer.rawValue)")
        }
        let n = Int(get(bytes, 72) as UInt64)
        let ratesAt = headerBytes + n * 4
        let rateCounts = 2 * CategoryRates.slots
        guard n == 2 << bits, bytes.count == ratesAt + 28 + rateCounts * 8 + 4 else {
            throw ModelError("state size does not match hash_bits \(bits)")
        }
        guard Int(get(bytes, ratesAt + 24) as UInt32) == CategoryRates.slots else {
            throw ModelError("the category-rate table has \(get(bytes, ratesAt + 24) as UInt32) slots, not \(CategoryRates.slots)")
        }
        var saved = config
        saved.alpha = Double(bitPattern: get(bytes, 24))
        saved.beta = Double(bitPattern: get(bytes, 32))
        saved.l1 = Double(bitPattern: get(bytes, 40))
        saved.l2 = Double(bitPattern: get(bytes, 48))
        var model = OnlineLogistic(config: saved, offset: Double(bitPattern: get(bytes, 56)))
        model.updates = get(bytes, 64)
        model.state.withUnsafeMutableBufferPointer { state in
            for i in 0..<n { state[i] = Float(bitPattern: get(bytes, headerBytes + i * 4)) }
        }
        model.recomputeWeights()
        let step = Int64(bitPattern: get(bytes, ratesAt))
        var rates = CategoryRates(halfLifeSeconds: config.categoryHalfLifeSeconds)
        rates.restore(step: step == .min ? nil : step,
                      events: Double(bitPattern: get(bytes, ratesAt + 8)),
                      purchases: Double(bitPattern: get(bytes, ratesAt + 16))) { counts in
            for i in counts.indices { counts[i] = Double(bitPattern: get(bytes, ratesAt + 28 + i * 8)) }
        }
        return (model, rates)
    }

    private static func put<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
        var v = value.littleEndian
        withUnsafeBytes(of: &v) { out.append(contentsOf: $0) }
    }

    private static func get<T: FixedWidthInteger>(_ bytes: [UInt8], _ at: Int) -> T {
        var v: T = 0
        for k in 0..<MemoryLayout<T>.size { v |= T(truncatingIfNeeded: bytes[at + k]) << (8 * k) }
        return v
    }

    private static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, 16 - s.count)) + s
    }
}
