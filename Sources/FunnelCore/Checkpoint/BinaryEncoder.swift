/// `Encoder` of ``BinaryCoder``: every container appends to one sink, in call order.
final class BinaryEncoder: Encoder {
    let sink = BinarySink()
    /// Set when a value used a container shape this format cannot hold; encoding then fails.
    var unsupported: String?
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedContainer<Key>(encoder: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer { UnkeyedContainer(encoder: self) }
    func singleValueContainer() -> any SingleValueEncodingContainer { SingleContainer(encoder: self) }

    /// Writes one value: raw arrays as a block, everything else through its own `encode(to:)`.
    func write<T: Encodable>(_ value: T) throws {
        // Optionals first: a dynamic cast would unwrap `Int?` into `Int` and lose the presence byte.
        if let v = value as? any BinaryOptional, T.self is any BinaryOptional.Type {
            try v.writeBinary(self)
            return
        }
        switch value {
        case let v as Bool: sink.write(v)
        case let v as String: sink.write(v)
        case let v as Double: sink.write(v)
        case let v as Float: sink.write(v)
        case let v as Int: sink.write(Int64(v))
        case let v as Int8: sink.write(v)
        case let v as Int16: sink.write(v)
        case let v as Int32: sink.write(v)
        case let v as Int64: sink.write(v)
        case let v as UInt: sink.write(UInt64(v))
        case let v as UInt8: sink.write(v)
        case let v as UInt16: sink.write(v)
        case let v as UInt32: sink.write(v)
        case let v as UInt64: sink.write(v)
        case let v as [String: Int]:
            sink.write(UInt64(v.count))
            for (k, n) in v.sorted(by: { $0.key < $1.key }) {
                sink.write(k)
                sink.write(Int64(n))
            }
        case let v as any RawArray: v.rawBytes(into: &sink.bytes)
        default: try value.encode(to: self)
        }
    }

    /// Keyed containers are self-describing: an entry count, then per entry the key and the
    /// length of its value's bytes, so readers find keys in any order and skip unknown ones (a
    /// hand-written `init(from:)` may read its keys in another order than `encode(to:)` wrote them).
    final class KeyedBox {
        let encoder: BinaryEncoder
        let countOffset: Int
        var count: UInt64 = 0

        init(encoder: BinaryEncoder) {
            self.encoder = encoder
            countOffset = encoder.sink.bytes.count
            encoder.sink.write(UInt64(0))
        }

        func entry(_ key: String, _ body: () throws -> Void) rethrows {
            encoder.sink.write(key)
            let lengthOffset = encoder.sink.bytes.count
            encoder.sink.write(UInt64(0))
            try body()
            encoder.sink.patch(UInt64(encoder.sink.bytes.count - lengthOffset - 8), at: lengthOffset)
            count += 1
            encoder.sink.patch(count, at: countOffset)
        }
    }

    struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let box: KeyedBox
        var codingPath: [any CodingKey] { box.encoder.codingPath }

        init(encoder: BinaryEncoder) { box = KeyedBox(encoder: encoder) }

        mutating func encodeNil(forKey key: Key) throws {}
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            try box.entry(key.stringValue) { try box.encoder.write(value) }
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
            -> KeyedEncodingContainer<NestedKey>
        {
            // Not used by FunnelPulse's state; the entry's length cannot be known up front.
            box.encoder.unsupported = "nested keyed container for '\(key.stringValue)'"
            return box.encoder.container(keyedBy: keyType)
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            box.encoder.unsupported = "nested unkeyed container for '\(key.stringValue)'"
            return box.encoder.unkeyedContainer()
        }
        mutating func superEncoder() -> any Encoder { box.encoder }
        mutating func superEncoder(forKey key: Key) -> any Encoder { box.encoder }
    }

    /// Unkeyed containers (arrays, dictionaries) are counted: the element count is written first,
    /// patched in when the container's last element is known — so elements are buffered.
    final class UnkeyedContainer: UnkeyedEncodingContainer {
        let encoder: BinaryEncoder
        let countOffset: Int
        var codingPath: [any CodingKey] { encoder.codingPath }
        var count = 0 {
            didSet { patch() }
        }

        init(encoder: BinaryEncoder) {
            self.encoder = encoder
            countOffset = encoder.sink.bytes.count
            encoder.sink.write(UInt64(0))
        }

        private func patch() { encoder.sink.patch(UInt64(count), at: countOffset) }

        func encodeNil() throws {
            encoder.sink.write(UInt8(0))
            count += 1
        }
        func encode<T: Encodable>(_ value: T) throws {
            try encoder.write(value)
            count += 1
        }
        func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            count += 1
            return encoder.container(keyedBy: keyType)
        }
        func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            count += 1
            return encoder.unkeyedContainer()
        }
        func superEncoder() -> any Encoder { encoder }
    }

    struct SingleContainer: SingleValueEncodingContainer {
        let encoder: BinaryEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }
        mutating func encodeNil() throws { encoder.sink.write(false) }
        mutating func encode<T: Encodable>(_ value: T) throws { try encoder.write(value) }
    }
}
