/// A validating single-pass scanner over one JSON object, feeding mapped keys into ``RawFields``.
///
/// It never builds a tree: keys the mapping does not name are skipped (but still validated), so
/// the cost is one pass over the bytes. Nesting is limited to ``maxDepth``.
struct JSONRecordScanner {
    static let maxDepth = 64

    let p: UnsafePointer<UInt8>
    let n: Int
    var i = 0
    var failure: DecodeFailure?

    init(_ p: UnsafePointer<UInt8>, count: Int) {
        self.p = p
        self.n = count
    }

    @inline(__always)
    mutating func fail(_ reason: DeadLetterReason, _ detail: StaticString) -> Bool {
        if failure == nil { failure = DecodeFailure(reason, detail, at: i) }
        return false
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while i < n {
            let b = p[i]
            if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { i += 1 } else { return }
        }
    }

    /// Scans the whole record: one object, then only whitespace.
    mutating func scanRecord(nodes: [JSONPathNode], into fields: inout RawFields) -> Bool {
        skipWhitespace()
        guard i < n else { return fail(.emptyRecord, "record is empty") }
        guard p[i] == UInt8(ascii: "{") else {
            if p[i] == UInt8(ascii: "[") || p[i] == UInt8(ascii: "\"") || p[i] == UInt8(ascii: "n") {
                return fail(.malformedJSON, "record is not a JSON object")
            }
            return fail(.malformedJSON, "record is not a JSON object")
        }
        guard scanObject(node: 0, nodes: nodes, depth: 1, into: &fields) else { return false }
        skipWhitespace()
        guard i == n else { return fail(.malformedJSON, "trailing bytes after the object") }
        return true
    }

    /// `i` at `{`. `node` < 0: no mapped keys below, just validate.
    mutating func scanObject(node: Int, nodes: [JSONPathNode], depth: Int, into fields: inout RawFields) -> Bool {
        guard depth <= Self.maxDepth else { return fail(.tooDeep, "nesting deeper than 64 levels") }
        i += 1
        skipWhitespace()
        if i < n && p[i] == UInt8(ascii: "}") {
            i += 1
            return true
        }
        while true {
            skipWhitespace()
            guard i < n, p[i] == UInt8(ascii: "\"") else { return fail(.malformedJSON, "expected a key string") }
            let keyStart = i + 1
            guard scanString() else { return false }
            let keyCount = i - 1 - keyStart
            skipWhitespace()
            guard i < n, p[i] == UInt8(ascii: ":") else { return fail(.malformedJSON, "expected ':' after key") }
            i += 1
            skipWhitespace()
            guard i < n else { return fail(.malformedJSON, "truncated record") }

            var entry: JSONPathNode.Entry?
            if node >= 0 {
                entry = nodes[node].find(UnsafeRawBufferPointer(start: p + keyStart, count: keyCount))
            }
            if let entry {
                let valueStart = i
                let first = p[i]
                if first == UInt8(ascii: "{") && entry.child >= 0 {
                    guard scanObject(node: entry.child, nodes: nodes, depth: depth + 1, into: &fields) else {
                        return false
                    }
                    if !entry.slots.isEmpty {
                        let span = Span(start: valueStart, count: i - valueStart)
                        for slot in entry.slots { fields.offer(slot, kind: .object, span: span) }
                    }
                } else {
                    guard let kind = scanValue(depth: depth + 1, into: &fields) else { return false }
                    var span = Span(start: valueStart, count: i - valueStart)
                    if kind == .string {
                        span = Span(
                            start: valueStart + 1, count: i - valueStart - 2,
                            encoding: stringHadEscape ? .jsonEscaped : .plain)
                    }
                    for slot in entry.slots { fields.offer(slot, kind: kind, span: span) }
                }
            } else {
                guard scanValue(depth: depth + 1, into: &fields) != nil else { return false }
            }
            skipWhitespace()
            guard i < n else { return fail(.malformedJSON, "truncated object") }
            if p[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            if p[i] == UInt8(ascii: "}") {
                i += 1
                return true
            }
            return fail(.malformedJSON, "expected ',' or '}'")
        }
    }

    var stringHadEscape = false

    /// `i` at the opening quote; leaves `i` after the closing quote.
    @inline(__always)
    mutating func scanString() -> Bool {
        i += 1
        stringHadEscape = false
        while i < n {
            let b = p[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                return true
            }
            if b == UInt8(ascii: "\\") {
                stringHadEscape = true
                guard i + 1 < n else { break }
                let e = p[i + 1]
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                    UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    guard i + 5 < n else { return fail(.malformedJSON, "truncated \\u escape") }
                    for k in 2...5 where !isHexDigit(p[i + k]) {
                        return fail(.malformedJSON, "bad \\u escape")
                    }
                    i += 6
                default:
                    return fail(.malformedJSON, "bad escape in string")
                }
                continue
            }
            if b < 0x20 { return fail(.malformedJSON, "control character in string") }
            i += 1
        }
        return fail(.malformedJSON, "unterminated string")
    }

    @inline(__always)
    func isHexDigit(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66)
    }

    /// Scans (and validates) any value; returns its kind.
    mutating func scanValue(depth: Int, into fields: inout RawFields) -> RawField.Kind? {
        guard i < n else {
            _ = fail(.malformedJSON, "truncated value")
            return nil
        }
        switch p[i] {
        case UInt8(ascii: "\""):
            return scanString() ? .string : nil
        case UInt8(ascii: "{"):
            return scanObject(node: -1, nodes: [], depth: depth, into: &fields) ? .object : nil
        case UInt8(ascii: "["):
            return scanArray(depth: depth, into: &fields) ? .array : nil
        case UInt8(ascii: "t"):
            return scanLiteral("true") ? .literal : nil
        case UInt8(ascii: "f"):
            return scanLiteral("false") ? .literal : nil
        case UInt8(ascii: "n"):
            return scanLiteral("null") ? .null : nil
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return scanNumber() ? .number : nil
        default:
            _ = fail(.malformedJSON, "unexpected character")
            return nil
        }
    }

    mutating func scanArray(depth: Int, into fields: inout RawFields) -> Bool {
        guard depth <= Self.maxDepth else { return fail(.tooDeep, "nesting deeper than 64 levels") }
        i += 1
        skipWhitespace()
        if i < n && p[i] == UInt8(ascii: "]") {
            i += 1
            return true
        }
        while true {
            skipWhitespace()
            guard scanValue(depth: depth + 1, into: &fields) != nil else { return false }
            skipWhitespace()
            guard i < n else { return fail(.malformedJSON, "truncated array") }
            if p[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            if p[i] == UInt8(ascii: "]") {
                i += 1
                return true
            }
            return fail(.malformedJSON, "expected ',' or ']'")
        }
    }

    mutating func scanLiteral(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard i + count <= n, memoryEqual(p + i, word.utf8Start, count) else {
            return fail(.malformedJSON, "bad literal")
        }
        i += count
        return true
    }

    /// JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    mutating func scanNumber() -> Bool {
        if p[i] == UInt8(ascii: "-") { i += 1 }
        guard i < n, isDigit(p[i]) else { return fail(.malformedJSON, "bad number") }
        if p[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            while i < n && isDigit(p[i]) { i += 1 }
        }
        if i < n && p[i] == UInt8(ascii: ".") {
            i += 1
            guard i < n, isDigit(p[i]) else { return fail(.malformedJSON, "bad number") }
            while i < n && isDigit(p[i]) { i += 1 }
        }
        if i < n && (p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E")) {
            i += 1
            if i < n && (p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-")) { i += 1 }
            guard i < n, isDigit(p[i]) else { return fail(.malformedJSON, "bad number") }
            while i < n && isDigit(p[i]) { i += 1 }
        }
        return true
    }

    @inline(__always) func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }
}
