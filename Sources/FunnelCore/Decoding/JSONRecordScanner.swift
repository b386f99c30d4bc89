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
    /// The mapping's key tables, borrowed for the duration of one record.
    let keyPool: UnsafePointer<UInt8>?
    let entries: UnsafePointer<JSONKeyTable.Entry>?
    let rangeStart: UnsafePointer<Int32>?
    let rangeEnd: UnsafePointer<Int32>?

    init(_ p: UnsafePointer<UInt8>, count: Int, keyPool: UnsafePointer<UInt8>?,
         entries: UnsafePointer<JSONKeyTable.Entry>?, rangeStart: UnsafePointer<Int32>?,
         rangeEnd: UnsafePointer<Int32>?) {
        self.p = p
        self.n = count
        self.keyPool = keyPool
        self.entries = entries
        self.rangeStart = rangeStart
        self.rangeEnd = rangeEnd
    }

    /// Scans one record with the mapping's key table.
    static func scan(_ p: UnsafePointer<UInt8>, count: Int, keys: JSONKeyTable, into fields: inout RawFields)
        -> DecodeFailure?
    {
        keys.keyPool.withUnsafeBufferPointer { pool in
            keys.entries.withUnsafeBufferPointer { entries in
                keys.rangeStart.withUnsafeBufferPointer { starts in
                    keys.rangeEnd.withUnsafeBufferPointer { ends in
                        var scanner = JSONRecordScanner(
                            p, count: count, keyPool: pool.baseAddress, entries: entries.baseAddress,
                            rangeStart: starts.baseAddress, rangeEnd: ends.baseAddress)
                        if scanner.scanRecord(into: &fields) { return nil }
                        return scanner.failure ?? DecodeFailure(.malformedJSON, "malformed JSON")
                    }
                }
            }
        }
    }

    /// The entry for `key` under `node`, if the mapping names it.
    @inline(__always)
    func find(node: Int, keyStart: Int, keyCount: Int) -> UnsafePointer<JSONKeyTable.Entry>? {
        guard node >= 0, keyCount <= JSONKeyTable.maxKeyLength, let rangeStart, let rangeEnd, let entries,
            let keyPool
        else { return nil }
        let r = node * (JSONKeyTable.maxKeyLength + 1) + keyCount
        var e = Int(rangeStart[r])
        let end = Int(rangeEnd[r])
        while e < end {
            let entry = entries + e
            if memoryEqual(keyPool + Int(entry.pointee.keyStart), p + keyStart, keyCount) { return entry }
            e += 1
        }
        return nil
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
    mutating func scanRecord(into fields: inout RawFields) -> Bool {
        skipWhitespace()
        guard i < n else { return fail(.emptyRecord, "record is empty") }
        guard p[i] == UInt8(ascii: "{") else {
            if p[i] == UInt8(ascii: "[") || p[i] == UInt8(ascii: "\"") || p[i] == UInt8(ascii: "n") {
                return fail(.malformedJSON, "record is not a JSON object")
            }
            return fail(.malformedJSON, "record is not a JSON object")
        }
        guard scanObject(node: 0, depth: 1, into: &fields) else { return false }
        skipWhitespace()
        guard i == n else { return fail(.malformedJSON, "trailing bytes after the object") }
        return true
    }

    /// `i` at `{`. `node` < 0: no mapped keys below, just validate.
    mutating func scanObject(node: Int, depth: Int, into fields: inout RawFields) -> Bool {
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

            if let entry = find(node: node, keyStart: keyStart, keyCount: keyCount)?.pointee {
                let valueStart = i
                let first = p[i]
                if first == UInt8(ascii: "{") && entry.child >= 0 {
                    guard scanObject(node: Int(entry.child), depth: depth + 1, into: &fields) else {
                        return false
                    }
                    if entry.slotCount > 0 {
                        let span = Span(start: valueStart, count: i - valueStart)
                        for k in 0..<Int(entry.slotCount) { fields.offer(entry.slot(k), kind: .object, span: span) }
                    }
                } else {
                    guard let kind = scanValue(depth: depth + 1, into: &fields) else { return false }
                    var span = Span(start: valueStart, count: i - valueStart)
                    if kind == .string {
                        span = Span(
                            start: valueStart + 1, count: i - valueStart - 2,
                            encoding: stringHadEscape ? .jsonEscaped : .plain)
                    }
                    for k in 0..<Int(entry.slotCount) { fields.offer(entry.slot(k), kind: kind, span: span) }
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
        while true {
            // SWAR: skip 8 bytes at a time while none is a quote, a backslash or a control byte.
            // The first flagged byte is always a real match (false flags only follow a real one).
            while i + 8 <= n {
                let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
                let q = w ^ 0x2222_2222_2222_2222
                let b = w ^ 0x5C5C_5C5C_5C5C_5C5C
                let high: UInt64 = 0x8080_8080_8080_8080
                let ones: UInt64 = 0x0101_0101_0101_0101
                let m = ((q &- ones) & ~q & high) | ((b &- ones) & ~b & high)
                    | ((w &- 0x2020_2020_2020_2020) & ~w & high)
                if m == 0 {
                    i += 8
                    continue
                }
                i += m.trailingZeroBitCount >> 3
                break
            }
            guard i < n else { return fail(.malformedJSON, "unterminated string") }
            let c = p[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return true
            }
            if c == UInt8(ascii: "\\") {
                stringHadEscape = true
                guard i + 1 < n else { return fail(.malformedJSON, "unterminated string") }
                switch p[i + 1] {
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
            if c < 0x20 { return fail(.malformedJSON, "control character in string") }
            i += 1
        }
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
            return scanObject(node: -1, depth: depth, into: &fields) ? .object : nil
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
