/// Writes JSON through a pointer into room a ``JSONBuffer`` reserved beforehand
/// (``JSONBuffer/write(reserving:_:)``): no capacity or uniqueness check per piece, as every
/// `Array.append` pays. A piece that would not fit is not written and marks the writer
/// ``overflowed``; the buffer then drops everything this writer wrote, so an undersized
/// reservation costs a fallback, never memory safety.
public struct JSONRawWriter: ~Copyable {
    private let start: UnsafeMutablePointer<UInt8>
    private let end: UnsafeMutablePointer<UInt8>
    private var cursor: UnsafeMutablePointer<UInt8>
    /// Set when a piece did not fit the reservation.
    public private(set) var overflowed = false

    init(start: UnsafeMutablePointer<UInt8>, capacity: Int) {
        self.start = start
        end = start + capacity
        cursor = start
    }

    /// Bytes written so far.
    var count: Int { cursor - start }

    /// Room for `n` more bytes; marks the writer overflowed when there is not.
    @inline(__always)
    private mutating func room(_ n: Int) -> Bool {
        guard !overflowed, end - cursor >= n else {
            overflowed = true
            return false
        }
        return true
    }

    @inline(__always)
    public mutating func byte(_ b: UInt8) {
        guard room(1) else { return }
        cursor.pointee = b
        cursor += 1
    }

    @inline(__always)
    public mutating func bytes(_ raw: UnsafeRawBufferPointer) {
        guard room(raw.count) else { return }
        if let source = raw.baseAddress { UnsafeMutableRawPointer(cursor).copyMemory(from: source, byteCount: raw.count) }
        cursor += raw.count
    }

    /// JSON punctuation and keys spelled as a literal (``JSONBuffer/fragment(_:)``).
    @inline(__always)
    public mutating func fragment(_ json: StaticString) {
        bytes(UnsafeRawBufferPointer(start: json.utf8Start, count: json.utf8CodeUnitCount))
    }

    /// `"raw"`: `raw` must need no escaping.
    @inline(__always)
    mutating func quoted(_ raw: UnsafeRawBufferPointer) {
        guard room(raw.count + 2) else { return }
        cursor.pointee = UInt8(ascii: "\"")
        if let source = raw.baseAddress { UnsafeMutableRawPointer(cursor + 1).copyMemory(from: source, byteCount: raw.count) }
        cursor[raw.count + 1] = UInt8(ascii: "\"")
        cursor += raw.count + 2
    }

    /// The most bytes ``string(_:)`` writes for `count` bytes of text (every byte a `\u00XX`).
    @inline(__always)
    public static func stringBound(_ count: Int) -> Int { 6 &* count &+ 2 }

    /// The most bytes ``double(_:decimals:)`` writes: a sign, 16 digits and a point.
    public static let doubleBound = 18

    /// `raw` as a JSON string: quoted, and escaped where it must be.
    @inline(__always)
    public mutating func string(_ raw: UnsafeRawBufferPointer) {
        if Self.needsNoEscape(raw) { quoted(raw) } else { escaped(raw) }
    }

    /// A field's text from its record as a JSON string: JSON-escaped spans are copied verbatim, CSV
    /// quoting is undone first, and a missing or out-of-record span writes `""`. At most
    /// ``stringBound(_:)`` of the span's length.
    @inline(__always)
    public mutating func string(_ span: Span, in record: UnsafeRawBufferPointer) {
        guard span.isPresent, span.range.upperBound <= record.count else {
            quoted(UnsafeRawBufferPointer(start: nil, count: 0))
            return
        }
        let raw = UnsafeRawBufferPointer(rebasing: record[span.range])
        switch span.encoding {
        case .jsonEscaped:
            quoted(raw)
        case .plain:
            string(raw)
        case .csvQuoted:
            var text: [UInt8] = []
            ValueParsing.unescapeCSV(raw, into: &text)
            text.withUnsafeBytes { string($0) }
        }
    }

    private mutating func escaped(_ raw: UnsafeRawBufferPointer) {
        guard room(Self.stringBound(raw.count)) else { return }
        var out = cursor
        out.pointee = UInt8(ascii: "\"")
        out += 1
        @inline(__always) func put(_ a: UInt8, _ b: UInt8) {
            out[0] = a
            out[1] = b
            out += 2
        }
        for b in raw {
            switch b {
            case 0x22: put(0x5C, 0x22)
            case 0x5C: put(0x5C, 0x5C)
            case 0x0A: put(0x5C, UInt8(ascii: "n"))
            case 0x0D: put(0x5C, UInt8(ascii: "r"))
            case 0x09: put(0x5C, UInt8(ascii: "t"))
            case 0..<0x20:
                put(0x5C, UInt8(ascii: "u"))
                put(0x30, 0x30)
                put(Self.hexDigit(b >> 4), Self.hexDigit(b & 15))
            default:
                out.pointee = b
                out += 1
            }
        }
        out.pointee = UInt8(ascii: "\"")
        cursor = out + 1
    }

    @inline(__always)
    private static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 &+ v : 0x57 &+ v }

    /// No quote, backslash or control byte, checked 8 bytes at a time (the usual case).
    @inline(__always)
    static func needsNoEscape(_ raw: UnsafeRawBufferPointer) -> Bool {
        let n = raw.count
        var i = 0
        let high: UInt64 = 0x8080_8080_8080_8080
        let ones: UInt64 = 0x0101_0101_0101_0101
        while i + 8 <= n {
            let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let q = w ^ 0x2222_2222_2222_2222
            let b = w ^ 0x5C5C_5C5C_5C5C_5C5C
            // Any byte equal to '"' or '\\', or below 0x20 (as a yes/no answer these tests are exact).
            if ((q &- ones) & ~q & high) | ((b &- ones) & ~b & high) | ((w &- 0x2020_2020_2020_2020) & ~w & high) != 0 {
                return false
            }
            i += 8
        }
        while i < n {
            let c = raw[i]
            if c < 0x20 || c == 0x22 || c == 0x5C { return false }
            i += 1
        }
        return true
    }

    /// Decimal digits of `value` (at most 20 bytes).
    public mutating func int(_ value: Int64) {
        guard room(20) else { return }
        if value == 0 {
            cursor.pointee = 0x30
            cursor += 1
            return
        }
        if value < 0 {
            cursor.pointee = UInt8(ascii: "-")
            cursor += 1
        }
        digits(value.magnitude, count: Self.digitCount(value.magnitude))
    }

    /// `v`'s lowest `count` decimal digits, leading zeros included, written in place back to front.
    @inline(__always)
    private mutating func digits(_ v: UInt64, count: Int) {
        var v = v
        var i = count
        while i > 0 {
            i -= 1
            cursor[i] = UInt8(truncatingIfNeeded: v % 10) &+ 0x30
            v /= 10
        }
        cursor += count
    }

    @inline(__always)
    private static func digitCount(_ v: UInt64) -> Int {
        var n = 1
        var bound: UInt64 = 10
        while n < 20 && v >= bound {
            n += 1
            bound &*= 10
        }
        return n
    }

    /// A finite double rounded to `decimals` places (0...15), trailing zeros dropped, as
    /// ``JSONBuffer/double(_:decimals:)`` writes it. Returns false, writing nothing, for what that
    /// spells another way: non-finite values and magnitudes of 9e15 units or more.
    public mutating func double(_ value: Double, decimals: Int) -> Bool {
        guard value.isFinite else { return false }
        let places = min(max(decimals, 0), 15)
        let scale = ValueParsing.pow10[places]
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9.0e15 else { return false }
        guard room(Self.doubleBound) else { return true }
        var units = UInt64(scaled)
        if units == 0 {
            cursor.pointee = 0x30
            cursor += 1
            return true
        }
        if value < 0 {
            cursor.pointee = UInt8(ascii: "-")
            cursor += 1
        }
        let divisor = UInt64(scale)
        let whole = units / divisor
        digits(whole, count: Self.digitCount(whole))
        units -= whole * divisor
        guard units > 0 else { return true }
        var fractionDigits = places
        while units % 10 == 0 {
            units /= 10
            fractionDigits -= 1
        }
        cursor.pointee = UInt8(ascii: ".")
        cursor += 1
        digits(units, count: fractionDigits)
        return true
    }
}
