/// `Decoder` of ``BinaryCoder``: reads values back in the order they were written.
final class BinaryDecoder: Decoder {
    let source: BinarySource
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]

    init(source: BinarySource) { self.source = source }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(try KeyedContainer<Key>(decoder: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer { try UnkeyedContainer(decoder: self) }
    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleContainer(decoder: self) }

    func read<T: Decodable>(_ type: T.Type) throws -> T {
        func cast<V>(_ value: V) throws -> T {
            guard let t = value as? T else { throw CheckpointError("cannot read \(T.self)") }
            return t
        }
        switch type {
        case is Bool.Type: return try cast(try source.readBool())
        case is String.Type: return try cast(try source.readString())
        case is Double.Type: return try cast(try source.readDouble())
        case is Float.Type: return try cast(try source.readFloat())
        case is Int.Type: return try cast(Int(try source.read(Int64.self)))
        case is Int8.Type: return try cast(try source.read(Int8.self))
        case is Int16.Type: return try cast(try source.read(Int16.self))
        case is Int32.Type: return try cast(try source.read(Int32.self))
        case is Int64.Type: return try cast(try source.read(Int64.self))
        case is UInt.Type: return try cast(UInt(try source.read(UInt64.self)))
        case is UInt8.Type: return try cast(try source.read(UInt8.self))
        case is UInt16.Type: return try cast(try source.read(UInt16.self))
        case is UInt32.Type: return try cast(try source.read(UInt32.self))
        case is UInt64.Type: return try cast(try source.read(UInt64.self))
        case is [String: Int].Type:
            let count = Int(try source.read(UInt64.self))
            guard count >= 0, count <= source.bytes.count - source.offset else {
                throw CheckpointError("dictionary of \(count) entries runs past the end")
            }
            var d: [String: Int] = [:]
            for _ in 0..<count {
                let k = try source.readString()
                d[k] = Int(try source.read(Int64.self))
            }
            return try cast(d)
        default:
            break
        }
        if let optional = type as? any BinaryOptional.Type {
            return try cast(try optional.readBinary(self))
        }
        if let raw = type as? any RawArray.Type {
            return try cast(try raw.fromRaw(source))
        }
        return try T(from: self)
    }

    struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let decoder: BinaryDecoder
        /// Each key's value bytes; the container's reading position is after its last entry.
        let entries: [String: Range<Int>]
        var codingPath: [any CodingKey] { decoder.codingPath }
        var allKeys: [Key] { entries.keys.compactMap { Key(stringValue: $0) } }

        init(decoder: BinaryDecoder) throws {
            self.decoder = decoder
            let source = decoder.source
            let count = Int(try source.read(UInt64.self))
            guard count >= 0, count <= source.remaining else {
                throw CheckpointError("object of \(count) entries runs past the end")
            }
            var entries: [String: Range<Int>] = [:]
            for _ in 0..<count {
                let key = try source.readString()
                let length = Int(try source.read(UInt64.self))
                guard length >= 0, length <= source.remaining else {
                    throw CheckpointError("value of '\(key)' runs past the end")
                }
                entries[key] = source.offset..<(source.offset + length)
                source.offset += length
            }
            self.entries = entries
        }

        func contains(_ key: Key) -> Bool { entries[key.stringValue] != nil }
        func decodeNil(forKey key: Key) throws -> Bool { entries[key.stringValue] == nil }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            guard let range = entries[key.stringValue] else {
                throw CheckpointError("missing '\(key.stringValue)' in \(T.self)'s container")
            }
            // Read the entry in place, then return to where the container ends.
            let source = decoder.source
            let end = source.offset
            source.offset = range.lowerBound
            defer { source.offset = end }
            let value = try decoder.read(type)
            guard source.offset == range.upperBound else {
                throw CheckpointError("'\(key.stringValue)': \(range.upperBound - source.offset) bytes left unread")
            }
            return value
        }

        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
            entries[key.stringValue] == nil ? nil : try decode(type, forKey: key)
        }

        /// A keyed value read as a container of its own (hand-written decoders that fill in
        /// per-field defaults); the writer wrote it as an ordinary keyed value.
        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
            -> KeyedDecodingContainer<NestedKey>
        {
            guard let range = entries[key.stringValue] else {
                throw CheckpointError("missing '\(key.stringValue)' in \(Key.self)")
            }
            let source = decoder.source
            let end = source.offset
            source.offset = range.lowerBound
            defer { source.offset = end }
            return KeyedDecodingContainer(try KeyedContainer<NestedKey>(decoder: decoder))
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            throw CheckpointError("nested containers are not part of the format (\(Key.self).\(key.stringValue))")
        }
        func superDecoder() throws -> any Decoder { decoder }
        func superDecoder(forKey key: Key) throws -> any Decoder { decoder }
    }

    final class UnkeyedContainer: UnkeyedDecodingContainer {
        let decoder: BinaryDecoder
        var codingPath: [any CodingKey] { decoder.codingPath }
        let total: Int
        var currentIndex = 0
        var count: Int? { total }
        var isAtEnd: Bool { currentIndex >= total }

        init(decoder: BinaryDecoder) throws {
            self.decoder = decoder
            total = Int(try decoder.source.read(UInt64.self))
            guard total >= 0, total <= decoder.source.bytes.count - decoder.source.offset else {
                throw CheckpointError("container of \(total) elements runs past the end")
            }
        }

        func decodeNil() throws -> Bool {
            // Elements are never written as a bare nil (optionals carry a presence byte).
            false
        }
        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            guard !isAtEnd else { throw CheckpointError("read past the end of a container") }
            currentIndex += 1
            return try decoder.read(type)
        }
        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            currentIndex += 1
            return try decoder.container(keyedBy: type)
        }
        func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            currentIndex += 1
            return try decoder.unkeyedContainer()
        }
        func superDecoder() throws -> any Decoder { decoder }
    }

    struct SingleContainer: SingleValueDecodingContainer {
        let decoder: BinaryDecoder
        var codingPath: [any CodingKey] { decoder.codingPath }
        func decodeNil() -> Bool { false }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.read(type) }
    }
}

/// Optionals are a presence byte and, when present, the value.
protocol BinaryOptional {
    func writeBinary(_ encoder: BinaryEncoder) throws
    static func readBinary(_ decoder: BinaryDecoder) throws -> Self
}

extension Optional: BinaryOptional where Wrapped: Codable {
    func writeBinary(_ encoder: BinaryEncoder) throws {
        encoder.sink.write(self != nil)
        if let value = self { try encoder.write(value) }
    }

    static func readBinary(_ decoder: BinaryDecoder) throws -> Wrapped? {
        try decoder.source.readBool() ? try decoder.read(Wrapped.self) : nil
    }
}
