/// Event timestamps → microseconds since the Unix epoch (UTC).
public enum TimestampParsing {
    /// Timestamps outside [1990-01-01, 2100-01-01) are rejected as `timestamp_out_of_range`.
    public static let earliest: Int64 = 631_152_000_000_000
    public static let latest: Int64 = 4_102_444_800_000_000

    enum Result {
        case ok(Int64)
        case bad
        case outOfRange
    }

    static func parse(_ b: UnsafeRawBufferPointer, isString: Bool, unit: MappingSpec.TimestampUnit) -> Result {
        let micros: Int64?
        switch unit {
        case .iso8601:
            micros = parseISO8601(b)
        case .s, .ms, .us:
            micros = numeric(b, unit: unit)
        case .auto:
            if isString, let iso = parseISO8601(b) {
                micros = iso
            } else {
                micros = numeric(b, unit: .auto)
            }
        }
        guard let micros else { return .bad }
        guard micros >= earliest, micros < latest else { return .outOfRange }
        return .ok(micros)
    }

    /// Integer fast path; fractional values go through Double (exact to the microsecond for s/ms).
    static func numeric(_ b: UnsafeRawBufferPointer, unit: MappingSpec.TimestampUnit) -> Int64? {
        if let integer = ValueParsing.parseInt(b) {
            switch resolve(unit, magnitude: Double(integer)) {
            case .s: return integer.multipliedReportingOverflow(by: 1_000_000).overflow ? nil : integer * 1_000_000
            case .ms: return integer.multipliedReportingOverflow(by: 1_000).overflow ? nil : integer * 1_000
            default: return integer
            }
        }
        guard let value = ValueParsing.parseDouble(b), value.isFinite else { return nil }
        let scaled: Double
        switch resolve(unit, magnitude: value) {
        case .s: scaled = value * 1_000_000
        case .ms: scaled = value * 1_000
        default: scaled = value
        }
        guard abs(scaled) < 9.0e18 else { return nil }
        return Int64(scaled.rounded())
    }

    @inline(__always)
    static func resolve(_ unit: MappingSpec.TimestampUnit, magnitude: Double) -> MappingSpec.TimestampUnit {
        guard unit == .auto else { return unit }
        let m = abs(magnitude)
        if m < 1e11 { return .s }
        if m < 1e14 { return .ms }
        return .us
    }

    /// `YYYY-MM-DD[T| ]HH:MM[:SS[.f…]][Z| UTC|±HH[:MM]]`; no zone means UTC.
    static func parseISO8601(_ b: UnsafeRawBufferPointer) -> Int64? {
        let n = b.count
        guard n >= 16 else { return nil }
        func digits(_ at: Int, _ count: Int) -> Int? {
            guard at + count <= n else { return nil }
            var v = 0
            for k in 0..<count {
                let d = b[at + k] &- 0x30
                guard d < 10 else { return nil }
                v = v * 10 + Int(d)
            }
            return v
        }
        guard let year = digits(0, 4), b[4] == UInt8(ascii: "-"), let month = digits(5, 2),
            b[7] == UInt8(ascii: "-"), let day = digits(8, 2),
            b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: " ") || b[10] == UInt8(ascii: "t"),
            let hour = digits(11, 2), b[13] == UInt8(ascii: ":"), let minute = digits(14, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year, month), hour < 24, minute < 60 else {
            return nil
        }
        var i = 16
        var second = 0
        var micros = 0
        if i < n, b[i] == UInt8(ascii: ":") {
            guard let s = digits(i + 1, 2), s < 61 else { return nil }
            second = min(s, 59)
            i += 3
            if i < n, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: ",") {
                i += 1
                var scale = 100_000
                let fractionStart = i
                while i < n, b[i] &- 0x30 < 10 {
                    micros += Int(b[i] &- 0x30) * scale
                    scale /= 10
                    i += 1
                }
                guard i > fractionStart else { return nil }
            }
        }
        var offsetSeconds = 0
        if i < n {
            switch b[i] {
            case UInt8(ascii: "Z"), UInt8(ascii: "z"):
                i += 1
            case UInt8(ascii: "+"), UInt8(ascii: "-"):
                let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
                guard let oh = digits(i + 1, 2), oh < 24 else { return nil }
                i += 3
                var om = 0
                if i < n, b[i] == UInt8(ascii: ":") { i += 1 }
                if i < n {
                    guard let m = digits(i, 2), m < 60 else { return nil }
                    om = m
                    i += 2
                }
                offsetSeconds = sign * (oh * 3600 + om * 60)
            case UInt8(ascii: " "):
                // "2019-10-01 00:00:00 UTC"
                guard n - i == 4, b[i + 1] == UInt8(ascii: "U"), b[i + 2] == UInt8(ascii: "T"),
                    b[i + 3] == UInt8(ascii: "C")
                else { return nil }
                i = n
            default:
                return nil
            }
        }
        guard i == n else { return nil }
        let days = daysFromCivil(year, month, day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second - offsetSeconds)
        return seconds * 1_000_000 + Int64(micros)
    }

    static func daysInMonth(_ year: Int, _ month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Howard Hinnant's days_from_civil.
    public static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
