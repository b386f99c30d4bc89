/// What the scanners found for each canonical field, before conversion into an ``Event``.
struct RawField {
    enum Kind: UInt8 {
        case absent = 0, string, number, literal, object, array, null
    }

    var kind: Kind = .absent
    var priority: UInt8 = .max
    var span: Span = .absent
}

struct RawFields {
    var values = InlineArray<14, RawField>(repeating: RawField())

    @inline(__always)
    mutating func reset() {
        for i in 0..<14 { values[i] = RawField() }
    }

    /// Keeps the value if it comes from a better-ranked candidate than what we hold. An empty or
    /// null value counts as absent: it never hides a present value of a lower-ranked candidate.
    @inline(__always)
    mutating func offer(_ slot: FieldSlot, kind: RawField.Kind, span: Span) {
        let index = slot.field.rawValue
        let held = values[index]
        let isEmpty = kind == .null || (kind == .string && span.count == 0)
        let heldEmpty = held.kind == .absent || held.kind == .null || (held.kind == .string && held.span.count == 0)
        if isEmpty {
            if held.kind == .absent { values[index] = RawField(kind: kind, priority: slot.priority, span: span) }
            return
        }
        if heldEmpty || slot.priority < held.priority {
            values[index] = RawField(kind: kind, priority: slot.priority, span: span)
        }
    }

    @inline(__always)
    subscript(field: CanonicalField) -> RawField { values[field.rawValue] }
}

/// Why a record was rejected, with a short fixed detail (no allocation on the hot path).
public struct DecodeFailure: Error, Sendable, Equatable {
    public var reason: DeadLetterReason
    public var detail: StaticString
    /// Byte offset inside the record where the problem was found, or -1.
    public var offset: Int

    public init(_ reason: DeadLetterReason, _ detail: StaticString, at offset: Int = -1) {
        self.reason = reason
        self.detail = detail
        self.offset = offset
    }

    public static func == (lhs: DecodeFailure, rhs: DecodeFailure) -> Bool {
        lhs.reason == rhs.reason && lhs.offset == rhs.offset
            && lhs.detail.description == rhs.detail.description
    }
}

public enum DecodeOutcome: Sendable {
    case event(Event)
    case rejected(DecodeFailure)
    /// Not a record: a CSV header line or a blank line.
    case skipped
}

/// What ``RecordDecoder/decode(_:into:)`` made of a record; the event itself is written in place.
public enum DecodeStatus: Sendable {
    case event
    case rejected(DecodeFailure)
    /// Not a record: a CSV header line or a blank line.
    case skipped
}
