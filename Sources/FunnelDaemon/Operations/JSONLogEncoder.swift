import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds one JSON object per log line by hand.
///
/// Avoids Foundation's `JSONEncoder` because logging sits on hot paths and the encoder allocates
/// per call and needs `Encodable` boxes for heterogeneous metadata. Swift `String`s are always
/// valid Unicode (invalid UTF-8 was already repaired to U+FFFD when the string was made), so
/// escaping only has to handle quotes, backslashes and control characters.
struct JSONLogEncoder {
    private(set) var output: String = "{"
    private var isFirstField = true

    init() {
        output.reserveCapacity(256)
    }

    // MARK: - Fields

    mutating func field(_ key: String, string value: String) {
        appendKey(key)
        Self.appendString(value, to: &output)
    }

    mutating func field(_ key: String, metadata value: Logger.MetadataValue) {
        appendKey(key)
        Self.appendValue(value, to: &output)
    }

    /// Closes the object and terminates the line.
    mutating func finish() -> String {
        output.append("}\n")
        return output
    }

    private mutating func appendKey(_ key: String) {
        if isFirstField {
            isFirstField = false
        } else {
            output.append(",")
        }
        Self.appendString(key, to: &output)
        output.append(":")
    }

    // MARK: - Values

    /// Nested dictionaries and arrays stay structured so log pipelines can query into them.
    static func appendValue(_ value: Logger.MetadataValue, to output: inout String) {
        switch value {
        case .string(let string):
            appendString(string, to: &output)
        case .stringConvertible(let convertible):
            appendString(convertible.description, to: &output)
        case .array(let values):
            output.append("[")
            for (index, element) in values.enumerated() {
                if index > 0 { output.append(",") }
                appendValue(element, to: &output)
            }
            output.append("]")
        case .dictionary(let dictionary):
            output.append("{")
            // Sorted so identical metadata always renders identically (diffable, testable).
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { output.append(",") }
                appendString(key, to: &output)
                output.append(":")
                if let element = dictionary[key] {
                    appendValue(element, to: &output)
                }
            }
            output.append("}")
        }
    }

    /// Appends `string` as a quoted JSON string (RFC 8259 §7).
    static func appendString(_ string: String, to output: inout String) {
        output.append("\"")
        var pendingStart = string.unicodeScalars.startIndex
        var index = pendingStart
        let scalars = string.unicodeScalars
        while index != scalars.endIndex {
            let scalar = scalars[index]
            if let escaped = escape(scalar) {
                output.unicodeScalars.append(contentsOf: scalars[pendingStart..<index])
                output.append(escaped)
                pendingStart = scalars.index(after: index)
            }
            index = scalars.index(after: index)
        }
        output.unicodeScalars.append(contentsOf: scalars[pendingStart..<scalars.endIndex])
        output.append("\"")
    }

    /// The escape for scalars JSON forbids raw, plus DEL and the line/paragraph separators, which
    /// are legal JSON but break terminals and line-oriented tools that treat them as newlines.
    private static func escape(_ scalar: Unicode.Scalar) -> String? {
        switch scalar.value {
        case 0x22: return "\\\""
        case 0x5C: return "\\\\"
        case 0x0A: return "\\n"
        case 0x0D: return "\\r"
        case 0x09: return "\\t"
        case 0x08: return "\\b"
        case 0x0C: return "\\f"
        case 0x00..<0x20, 0x7F, 0x2028, 0x2029:
            let hex = String(scalar.value, radix: 16)
            return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: return nil
        }
    }

    // MARK: - Timestamps

    /// Current wall-clock time as `2024-05-01T12:34:56.789Z`.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return timestamp(seconds: Int(now.tv_sec), nanoseconds: Int(now.tv_nsec))
    }

    /// ISO-8601 UTC with milliseconds, formatted without `DateFormatter` (not cheap, and its
    /// thread-safety varies between platforms).
    static func timestamp(seconds: Int, nanoseconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
        }
        let millis = Int32(max(0, min(999, nanoseconds / 1_000_000)))
        return pad(parts.tm_year + 1900, 4) + "-" + pad(parts.tm_mon + 1, 2) + "-" + pad(parts.tm_mday, 2)
            + "T" + pad(parts.tm_hour, 2) + ":" + pad(parts.tm_min, 2) + ":" + pad(parts.tm_sec, 2)
            + "." + pad(millis, 3) + "Z"
    }
}
