/// Small text helpers for the demo view.
///
/// Hand-rolled rather than `String(format:)`: the output must be identical on every platform
/// (tests compare whole lines) and must not depend on the process locale.
enum DemoFormat {
    /// `value` with exactly `decimals` digits after the point, rounded half away from zero.
    static func fixed(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        var scale = 1.0
        for _ in 0..<max(0, decimals) { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9.0e15 else { return String(value) }
        let units = Int64(scaled)
        let divisor = Int64(scale)
        let whole = units / divisor
        let sign = value < 0 && units != 0 ? "-" : ""
        guard decimals > 0 else { return "\(sign)\(whole)" }
        let fraction = String(units % divisor)
        return "\(sign)\(whole)." + String(repeating: "0", count: decimals - fraction.count) + fraction
    }

    /// A share in percent with one decimal (`0.1234` → `12.3%`); `-` when unknown.
    static func percent(_ share: Double?) -> String {
        guard let share else { return "-" }
        return fixed(share * 100, 1) + "%"
    }

    /// Rounded per-second rate; `-` before the first interval has been measured.
    static func rate(_ perSecond: Double?) -> String {
        guard let perSecond, perSecond.isFinite else { return "-" }
        return String(Int64(perSecond.rounded()))
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    static func padLeft(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    /// `90` → `1m30s`, for uptime and rolling-window labels.
    static func duration(seconds: Int) -> String {
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return seconds % 60 == 0 ? "\(seconds / 60)m" : "\(seconds / 60)m\(seconds % 60)s" }
        let minutes = (seconds % 3600) / 60
        return minutes == 0 ? "\(seconds / 3600)h" : "\(seconds / 3600)h\(minutes)m"
    }

    /// Keeps a line inside the terminal; alerts and dead letters can be long.
    static func truncate(_ text: String, _ width: Int) -> String {
        text.count <= width ? text : String(text.prefix(max(0, width - 1))) + "…"
    }
}
