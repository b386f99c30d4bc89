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

    /// `,"raw"` (comma when due) or `"raw":`, written in one go. `raw` must need no escaping.
    @inline(__always)
    private mutating func appendQuoted(_ raw: UnsafeRawBufferPointer, colon: Bool) {
        let comma = needsComma
        write(estimate: raw.count + 4) { w in
            if comma { w.byte(UInt8(ascii: ",")) }
            w.quoted(raw)
            if colon { w.byte(UInt8(ascii: ":")) }
        }
        needsComma = true
    }

    /// Writes through a ``JSONRawWriter`` into room reserved for `estimate` bytes, reserving
    /// twice as much and writing again whenever that was too little (an estimate is never a limit).
    @inline(__always)
    public mutating func write(estimate: Int, _ body: (inout JSONRawWriter) -> Void) {
        var capacity = max(estimate, 16)
        while true {
            var fits = false
            bytes.append(addingCapacity: capacity) { out in
                out.withUnsafeMutableBufferPointer { buffer, initialized in
                    guard let base = buffer.baseAddress else { return }
                    var writer = JSONRawWriter(start: base + initialized, capacity: buffer.count - initialized)
                    body(&writer)
                    if !writer.overflowed {
                        initialized += writer.count
                        fits = true
                    }
                }
            }
            if fits { return }
            capacity *= 2
        }
    }

    /// A whole value written through a ``JSONRawWriter`` (see ``write(estimate:_:)``), after a comma
    /// when one is due; what follows it takes a comma.
    @inline(__always)
    public mutating func value(estimate: Int, _ body: (inout JSONRawWriter) -> Void) {
        let comma = needsComma
        write(estimate: estimate + 1) { w in
            if comma { w.byte(UInt8(ascii: ",")) }
            body(&w)
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
        value(estimate: JSONRawWriter.stringBound(raw.count)) { $0.string(raw) }
    }

    /// A field's text from its record, escaped as needed (JSON-escaped spans are copied verbatim).
    public mutating func string(_ span: Span, in record: UnsafeRawBufferPointer) {
        value(estimate: JSONRawWriter.stringBound(max(0, Int(span.count)))) { $0.string(span, in: record) }
    }

    public mutating func bytesAsString(_ raw: UnsafeRawBufferPointer) {
        quotedValue(raw)
    }

    public mutating func int<T: BinaryInteger>(_ value: T) {
        let v = Int64(value)
        self.value(estimate: 20) { $0.int(v) }
    }

    /// A finite double, rounded to `decimals` places (trailing zeros dropped); non-finite values
    /// become null. Formatted by hand: no `String` per number, the same bytes on every platform.
    public mutating func double(_ value: Double, decimals: Int = 6) {
        guard value.isFinite else {
            null()
            return
        }
        var spelled = true
        self.value(estimate: JSONRawWriter.doubleBound) { spelled = $0.double(value, decimals: decimals) }
        if !spelled { bytes.append(contentsOf: value.description.utf8) }
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
