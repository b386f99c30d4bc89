/// A sparse feature vector of fixed capacity: building one allocates nothing.
///
/// `names` holds each feature's id in ``FeatureExtractor/names`` so scores can explain themselves;
/// only `indices` and `values` are frozen into the pending store for learning.
public struct FeatureVector: Sendable {
    public static let capacity = 64

    public var indices = InlineArray<64, UInt32>(repeating: 0)
    public var values = InlineArray<64, Float>(repeating: 0)
    public var names = InlineArray<64, UInt16>(repeating: 0)
    public private(set) var count = 0

    public init() {}

    @inline(__always)
    public mutating func removeAll() { count = 0 }

    /// Adds a feature; beyond the capacity it is ignored (the extractor's templates stay below it).
    @inline(__always)
    public mutating func append(index: UInt32, value: Float, name: UInt16) {
        guard count < Self.capacity, value != 0 else { return }
        indices[count] = index
        values[count] = value
        names[count] = name
        count += 1
    }
}

extension FeatureVector {
    /// Replaces the contents with `count` (index, value) pairs copied from raw memory (a frozen
    /// vector of the pending store); names are cleared, as frozen vectors keep none.
    @inline(__always)
    mutating func load(indices source: UnsafePointer<UInt32>, values sourceValues: UnsafePointer<Float>, count n: Int) {
        let n = min(max(n, 0), Self.capacity)
        var indexSpan = indices.mutableSpan
        indexSpan.withUnsafeMutableBufferPointer { if let d = $0.baseAddress { d.update(from: source, count: n) } }
        var valueSpan = values.mutableSpan
        valueSpan.withUnsafeMutableBufferPointer { if let d = $0.baseAddress { d.update(from: sourceValues, count: n) } }
        var nameSpan = names.mutableSpan
        nameSpan.withUnsafeMutableBufferPointer { if let d = $0.baseAddress { d.update(repeating: 0, count: n) } }
        count = n
    }
}

extension FeatureVector: RawCodable {}
