/// Replaces user ids in outputs with a keyed pseudonym (`privacy.pseudonymize_user_ids`).
///
/// pseudonym(id) = lowercase hex of the first 16 bytes of HMAC-SHA256(key, id), 32 characters,
/// where `id` is the user id's text as decoded from the record (the same text the engine would
/// otherwise write). Stable for a key, across runs and processes, so outputs can still be joined
/// per user; without the key an id cannot be confirmed by hashing guesses. 128 bits: collisions
/// are not a concern below ~10^18 users.
///
/// An absent or empty id stays empty (there is nothing to hide). Computing a pseudonym for a
/// plain (unescaped) id allocates nothing: the digest and its hex live on the stack.
public struct UserPseudonymizer: Sendable {
    /// Characters in a pseudonym.
    public static let length = 32
    /// Shortest key accepted (bytes); shorter keys make guessing the key itself feasible.
    public static let minimumKeyBytes = 16

    private let mac: HMACSHA256

    public init(key: [UInt8]) {
        mac = HMACSHA256(key: key)
    }

    /// Calls `body` with the pseudonym of `id`'s bytes (empty when `id` is empty).
    @inline(__always)
    public func withPseudonym<R>(of id: UnsafeRawBufferPointer,
                                 _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        guard id.count > 0 else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        let digest = mac.authenticationCode(id)
        return try withUnsafeTemporaryAllocation(byteCount: Self.length, alignment: 1) { out in
            digest.writeHex(Self.length / 2, into: out)
            return try body(UnsafeRawBufferPointer(out))
        }
    }

    /// Calls `body` with the pseudonym of a record's text field (as ``TextField/string(_:in:)``
    /// decodes it). Escaped ids are unescaped first, which allocates; plain ones do not.
    @inline(__always)
    public func withPseudonym<R>(of span: Span, in record: UnsafeRawBufferPointer,
                                 _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        guard span.isPresent, span.range.upperBound <= record.count else {
            return try body(UnsafeRawBufferPointer(start: nil, count: 0))
        }
        if span.encoding == .plain {
            return try withPseudonym(of: UnsafeRawBufferPointer(rebasing: record[span.range]), body)
        }
        var text = TextField.string(span, in: record)
        return try text.withUTF8 { try withPseudonym(of: UnsafeRawBufferPointer($0), body) }
    }

    /// The pseudonym of `id` (alerts and other rare paths).
    public func pseudonym(_ id: String) -> String {
        var id = id
        return id.withUTF8 { bytes in
            withPseudonym(of: UnsafeRawBufferPointer(bytes)) { String(decoding: $0, as: UTF8.self) }
        }
    }
}

/// Where engine state keeps the pseudonymizer: encodes as nothing and decodes empty, so an engine
/// checkpoint never carries key material (the HMAC's key-derived states). Whoever restores an
/// engine sets the pseudonymizer again (``Engine/setUserPseudonymizer(_:)``).
public struct UserPseudonymizerSlot: Sendable, Codable {
    public var value: UserPseudonymizer?

    public init(_ value: UserPseudonymizer? = nil) { self.value = value }

    public init(from decoder: any Decoder) throws { value = nil }

    public func encode(to encoder: any Encoder) throws {}
}
