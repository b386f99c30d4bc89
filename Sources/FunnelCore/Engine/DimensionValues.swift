/// Interned breakdown values of one dimension (device, channel or category), capped.
///
/// Index 0 is "(none)" (the event had no value), 1…cap are the first `cap` distinct values in
/// stream order, cap+1 is "other". Deterministic: the same input interns the same way.
public struct DimensionValues: Sendable {
    public static let noneName = "(none)"
    public static let otherName = "other"

    public let cap: Int
    private var indexByKey = U64Map<UInt8>()
    public private(set) var names: [String] = [DimensionValues.noneName]
    public private(set) var overflowed = 0

    public init(cap: Int) { self.cap = max(1, min(cap, 250)) }

    public var otherIndex: UInt8 { UInt8(cap + 1) }
    public var slotCount: Int { cap + 2 }

    /// The slot for a value; `name` is read only the first time a value is seen.
    @inline(__always)
    public mutating func intern(key: UInt64, name: () -> String) -> UInt8 {
        if key == 0 { return 0 }
        if let index = indexByKey[key] { return index }
        guard names.count <= cap else {
            overflowed += 1
            return otherIndex
        }
        let index = UInt8(names.count)
        names.append(name())
        indexByKey[key] = index
        return index
    }

    /// A slot as it moves to another engine, whose interning differs (partition handover).
    struct Handed: Codable, Sendable {
        var key: UInt64
        var name: String
        var other: Bool
    }

    func handed(_ index: UInt8) -> Handed {
        if index == 0 { return Handed(key: 0, name: Self.noneName, other: false) }
        var key: UInt64 = 0
        indexByKey.forEach { k, i in if i == index { key = k } }
        return Handed(key: key, name: name(of: index), other: key == 0)
    }

    mutating func intern(_ handed: Handed) -> UInt8 {
        if handed.other { return otherIndex }
        return intern(key: handed.key) { handed.name }
    }

    public func name(of index: UInt8) -> String {
        if Int(index) < names.count { return names[Int(index)] }
        return Self.otherName
    }
}

extension DimensionValues: Codable {}
