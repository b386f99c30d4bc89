/// A compact, sequential binary form of `Codable` values, for engine checkpoints.
///
/// Values are written in the order `encode(to:)` writes them and read back in the same order, so
/// keys are not stored: only types that encode their properties in a fixed order (synthesized
/// conformances, and hand-written ones that always write every key) round-trip. Optionals carry a
/// presence byte (`encodeIfPresent` / `decodeIfPresent`). Integers and floats are little-endian
/// fixed width; arrays of bitwise-copyable elements (``RawArray``) are one length and one block
/// of bytes. The reader checks every length against what is left, so a truncated or corrupt
/// input is an error, never a crash.
public enum BinaryCoder {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = BinaryEncoder()
        try encoder.write(value)
        if let unsupported = encoder.unsupported { throw CheckpointError("cannot encode: \(unsupported)") }
        return encoder.sink.bytes
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        let decoder = BinaryDecoder(source: BinarySource(bytes: bytes))
        let value = try decoder.read(T.self)
        guard decoder.source.offset == bytes.count else {
            throw CheckpointError("\(bytes.count - decoder.source.offset) unread bytes after the state")
        }
        return value
    }
}

/// A checkpoint that cannot be read: truncated, corrupt, or of another version or configuration.
public struct CheckpointError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Arrays whose elements are bitwise copyable are written as one block of bytes.
protocol RawArray {
    func rawBytes(into bytes: inout [UInt8])
    static func fromRaw(_ source: BinarySource) throws -> Self
}

/// Plain values stored as their bytes in checkpoints (no references, no padding-sensitive logic).
public protocol RawElement: BitwiseCopyable {}

extension UInt8: RawElement {}
extension UInt16: RawElement {}
extension UInt32: RawElement {}
extension UInt64: RawElement {}
extension Int32: RawElement {}
extension Int64: RawElement {}
extension Int: RawElement {}
extension Float: RawElement {}
extension Double: RawElement {}

extension Array: RawArray where Element: RawElement {
    func rawBytes(into bytes: inout [UInt8]) {
        BinarySink.append(UInt64(count), to: &bytes)
        withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    static func fromRaw(_ source: BinarySource) throws -> [Element] {
        try source.readRawElements(Element.self) { from, count in
            // One block copy: the elements are bitwise copyable (and the bytes need not be aligned).
            [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
                if let to = buffer.baseAddress, let from {
                    UnsafeMutableRawPointer(to).copyMemory(from: from, byteCount: count * MemoryLayout<Element>.stride)
                }
                initialized = count
            }
        }
    }
}

final class BinarySink {
    var bytes: [UInt8] = []

    static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    func write<T: FixedWidthInteger>(_ value: T) { Self.append(value, to: &bytes) }
    func patch(_ value: UInt64, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for (i, b) in raw.enumerated() { bytes[offset + i] = b }
        }
    }

    func write(_ value: Double) { write(value.bitPattern) }
    func write(_ value: Float) { write(value.bitPattern) }
    func write(_ value: Bool) { bytes.append(value ? 1 : 0) }
    func write(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            write(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }
}

final class BinarySource {
    let bytes: [UInt8]
    var offset = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// Bytes left to read.
    var remaining: Int { bytes.count - offset }

    /// Reads what ``RawArray/rawBytes(into:)`` wrote, a count and then the elements' bytes:
    /// `body` gets the address of those bytes (nil when there are none) and the count, and builds
    /// the collection from them; the source then moves past them.
    func readRawElements<Element: RawElement, Result>(
        _ type: Element.Type, _ body: (UnsafeRawPointer?, Int) throws -> Result
    ) throws -> Result {
        let count = Int(try read(UInt64.self))
        let size = MemoryLayout<Element>.stride
        guard count >= 0, size == 0 || count <= (bytes.count - offset) / size else {
            throw CheckpointError("array of \(count) elements runs past the end")
        }
        let result = try bytes.withUnsafeBytes { raw in
            try body(count > 0 ? raw.baseAddress.map { $0 + offset } : nil, count)
        }
        offset += count * size
        return result
    }

    func read<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        guard offset + size <= bytes.count else { throw CheckpointError("truncated at byte \(offset)") }
        let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
        offset += size
        return T(littleEndian: value)
    }

    func readDouble() throws -> Double { Double(bitPattern: try read(UInt64.self)) }
    func readFloat() throws -> Float { Float(bitPattern: try read(UInt32.self)) }

    func readBool() throws -> Bool {
        switch try read(UInt8.self) {
        case 0: return false
        case 1: return true
        case let b: throw CheckpointError("byte \(offset - 1): \(b) is not a boolean")
        }
    }

    func readString() throws -> String {
        let count = Int(try read(UInt64.self))
        guard count >= 0, count <= bytes.count - offset else { throw CheckpointError("string runs past the end") }
        let s = String(decoding: bytes[offset..<(offset + count)], as: UTF8.self)
        offset += count
        return s
    }
}

/// A plain value checkpointed as its bytes: `Codable` through one byte array.
public protocol RawCodable: RawElement, Codable {}

extension RawCodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(withUnsafeBytes(of: self) { Array($0) })
    }

    public init(from decoder: any Decoder) throws {
        let bytes = try decoder.singleValueContainer().decode([UInt8].self)
        guard bytes.count == MemoryLayout<Self>.size else {
            throw CheckpointError("\(Self.self): \(bytes.count) bytes, expected \(MemoryLayout<Self>.size)")
        }
        self = bytes.withUnsafeBytes { $0.loadUnaligned(as: Self.self) }
    }
}

extension InlineArray: RawElement where Element: RawElement {}
extension InlineArray: @retroactive Encodable where Element: RawElement {}
extension InlineArray: @retroactive Decodable where Element: RawElement {}
extension InlineArray: RawCodable where Element: RawElement {}
