/// Appends JSON to a byte buffer without Foundation: the encoder for every output record.
public struct JSONBuffer: Sendable {
    public var bytes: [UInt8] = []
    private var needsComma = false

    public init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        needsComma = false
    }

    @inline(__always) private mutating func comma() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
    }

    public mutating func beginObject() { comma(); bytes.append(UInt8(ascii: "{")); needsComma = false }
    public mutating func endObject() { bytes.append(UInt8(ascii: "}")); needsComma = true }
    public mutating func beginArray() { comma(); bytes.append(UInt8(ascii: "[")); needsComma = false }
    public mutating func endArray() { bytes.append(UInt8(ascii: "]")); needsComma = true }
    public mutating func newline() { bytes.append(0x0A); needsComma = false }

    /// A run of JSON punctuation and keys that ends where a value starts (`,"score":`), appended
    /// verbatim in one go: a record with a fixed shape spells its keys and separators as a few
    /// literals instead of one ``key(_:)`` call each. The caller writes any leading comma itself.
    @inline(__always)
    public mutating func fragment(_ json: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: json.utf8Start, count: json.utf8CodeUnitCount))
        needsComma = false
    }

    /// `"name":` — the next value follows without a comma.
    public mutating func key(_ name: StaticString) {
        appendQuoted(UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount), colon: true)
        needsComma = false
    }

    /// `,"raw"` (comma when due) or `"raw":`, as one array append when it fits a stack buffer:
    /// byte-by-byte appends each pay the array's uniqueness and capacity checks. `raw` must need
    /// no escaping.
    @inline(__always)
    private mutating func appendQuoted(_ raw: UnsafeRawBufferPointer, colon: Bool) {
        let n = raw.count
        guard n <= 92 else {
            comma()
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: raw)
            bytes.append(UInt8(ascii: "\""))
            if colon { bytes.append(UInt8(ascii: ":")) }
            return
        }
        var staged = InlineArray<96, UInt8>(repeating: 0)
        var span = staged.mutableSpan
        span.withUnsafeMutableBufferPointer { out in
            var i = 0
            if needsComma {
                out[0] = UInt8(ascii: ",")
                i = 1
            }
            out[i] = UInt8(ascii: "\"")
            if n > 0, let source = raw.baseAddress, let target = out.baseAddress {
                UnsafeMutableRawPointer(target + i + 1).copyMemory(from: source, byteCount: n)
            }
            i += n + 1
            out[i] = UInt8(ascii: "\"")
            i += 1
            if colon {
                out[i] = UInt8(ascii: ":")
                i += 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: out[..<i]))
        }
        needsComma = true
    }

    /// `"name":` for a name known only at run time (escaped as needed). Literal names take
    /// ``key(_:)``: a literal passed where a `String` overload exists becomes a `String`, which
    /// then pays for the escape scan on every record.
    public mutating func key(escaping name: String) {
        string(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    public mutating func string(_ value: String) {
        var v = value
        v.withUTF8 { quotedValue(UnsafeRawBufferPointer($0)) }
    }

    /// A string value: quoted, escaped when it must be.
    @inline(__always)
    private mutating func quotedValue(_ raw: UnsafeRawBufferPointer) {
        if Self.needsNoEscape(raw) {
            appendQuoted(raw, colon: false)
        } else {
            comma()
            appendEscaped(raw)
        }
    }

    /// A field's text from its record, escaped as needed (JSON-escaped spans are copied verbatim).
    public mutating func string(_ span: Span, in record: UnsafeRawBufferPointer) {
        guard span.isPresent, span.range.upperBound <= record.count else {
            appendQuoted(UnsafeRawBufferPointer(start: nil, count: 0), colon: false)
            return
        }
        let raw = UnsafeRawBufferPointer(rebasing: record[span.range])
        switch span.encoding {
        case .jsonEscaped:
            appendQuoted(raw, colon: false)
        case .plain:
            quotedValue(raw)
        case .csvQuoted:
            var tmp: [UInt8] = []
            ValueParsing.unescapeCSV(raw, into: &tmp)
            tmp.withUnsafeBytes { quotedValue($0) }
        }
    }

    public mutating func bytesAsString(_ raw: UnsafeRawBufferPointer) {
        quotedValue(raw)
    }

    /// A quoted value that needs escaping (clean values take ``appendQuoted(_:colon:)``).
    private mutating func appendEscaped(_ raw: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "\""))
        for b in raw {
            switch b {
            case 0x22: bytes.append(0x5C); bytes.append(0x22)
            case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
            case 0x0A: bytes.append(0x5C); bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(0x5C); bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(0x5C); bytes.append(UInt8(ascii: "t"))
            case 0..<0x20:
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, Self.hex[Int(b >> 4)], Self.hex[Int(b & 15)]])
            default:
                bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// No quote, backslash or control byte, checked 8 bytes at a time (the usual case).
    @inline(__always)
    private static func needsNoEscape(_ raw: UnsafeRawBufferPointer) -> Bool {
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

    public mutating func int<T: BinaryInteger>(_ value: T) {
        comma()
        appendInt(Int64(value))
    }

    private mutating func appendInt(_ value: Int64) {
        if value == 0 {
            bytes.append(0x30)
            return
        }
        var v = value.magnitude
        // Sign and digits written backwards into a stack buffer, appended in one go.
        var digits = InlineArray<21, UInt8>(repeating: 0)
        var start = 21
        while v > 0 {
            start -= 1
            digits[start] = UInt8(v % 10) + 0x30
            v /= 10
        }
        if value < 0 {
            start -= 1
            digits[start] = UInt8(ascii: "-")
        }
        appendTail(of: digits, from: start)
    }

    /// Appends `buffer[start...]` with one array append.
    @inline(__always)
    private mutating func appendTail<let n: Int>(of buffer: InlineArray<n, UInt8>, from start: Int) {
        buffer.span.withUnsafeBufferPointer { all in
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: all[start...]))
        }
    }

    /// A finite double, rounded to `decimals` places (trailing zeros dropped); non-finite values
    /// become null. Formatted by hand: no `String` per number, the same bytes on every platform.
    public mutating func double(_ value: Double, decimals: Int = 6) {
        guard value.isFinite else {
            null()
            return
        }
        let places = min(max(decimals, 0), 15)
        let scale = ValueParsing.pow10[places]
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9.0e15 else {
            comma()
            bytes.append(contentsOf: value.description.utf8)
            return
        }
        comma()
        var units = Int64(scaled)
        if units == 0 {
            bytes.append(0x30)
            return
        }
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        let divisor = Int64(scale)
        let whole = units / divisor
        appendInt(whole)
        units -= whole * divisor
        guard units > 0 else { return }
        var digits = places
        while units % 10 == 0 {
            units /= 10
            digits -= 1
        }
        // The point and the fraction's digits (leading zeros kept), appended in one go.
        var fraction = InlineArray<17, UInt8>(repeating: 0x30)
        var n = 17
        for _ in 0..<digits {
            n -= 1
            fraction[n] = UInt8(units % 10) + 0x30
            units /= 10
        }
        n -= 1
        fraction[n] = UInt8(ascii: ".")
        appendTail(of: fraction, from: n)
    }

    public mutating func optionalDouble(_ value: Double?, decimals: Int = 6) {
        if let value { double(value, decimals: decimals) } else { null() }
    }

    public mutating func bool(_ value: Bool) { encoded(value ? "true" : "false") }

    public mutating func null() { encoded("null") }

    /// A value that is already JSON (a literal, or a string encoded once and reused).
    public mutating func encoded(_ json: StaticString) {
        encoded(UnsafeRawBufferPointer(start: json.utf8Start, count: json.utf8CodeUnitCount))
    }

    /// A value that is already JSON (a literal, or a string encoded once and reused).
    public mutating func encoded(_ json: UnsafeRawBufferPointer) {
        comma()
        bytes.append(contentsOf: json)
    }

    /// Event time as ISO-8601 UTC with milliseconds.
    public mutating func timestamp(_ micros: Int64) {
        string(ISO8601.format(micros: micros))
    }
}

public enum ISO8601 {
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` for µs since the Unix epoch.
    public static func format(micros: Int64) -> String {
        let millis = floorDiv(micros, 1000)
        let seconds = floorDiv(millis, 1000)
        let ms = Int(millis - seconds * 1000)
        let days = Int(floorDiv(seconds, 86_400))
        let secOfDay = Int(seconds - Int64(days) * 86_400)
        let (y, m, d) = civil(fromDays: days)
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(secOfDay / 3600, 2)):\(pad(secOfDay / 60 % 60, 2)):\(pad(secOfDay % 60, 2)).\(pad(ms, 3))Z"
    }

    /// Howard Hinnant's civil_from_days.
    public static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
