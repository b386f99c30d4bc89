/// Writes a ``SimEventRecord`` as one line of the project's event JSON.
///
/// Key order is fixed and there are no spaces, so identical records give identical bytes.
/// Numbers are formatted here (no Foundation, no String interpolation): integers in decimal,
/// prices with two decimals, probabilities with six. Appends into the caller's reusable buffer;
/// nothing is allocated once the buffer has grown to a line's size.
enum SimJSONWriter {
    static func write(_ r: SimEventRecord, startMillis: Int64, into out: inout [UInt8]) {
        append("{\"event_id\":\"e-", &out)
        appendInt(Int64(r.eventNumber), &out)
        append("\",\"ts\":", &out)
        appendInt(startMillis + Int64(r.time.rounded(.down)), &out)
        append(",\"user_id\":\"u-", &out)
        appendInt(Int64(r.user), &out)
        append("\",\"session_id\":\"s-", &out)
        appendInt(Int64(r.session), &out)
        append("\",\"type\":\"", &out)
        append(r.type.staticName, &out)
        out.append(UInt8(ascii: "\""))
        if r.item >= 0 {
            append(",\"item_id\":\"i-", &out)
            appendInt(Int64(r.item), &out)
            append("\",\"category\":\"c-", &out)
            appendInt(Int64(r.category), &out)
            out.append(UInt8(ascii: "\""))
        }
        if r.priceCents >= 0 {
            append(",\"price\":", &out)
            appendFixed(Int64(r.priceCents), decimals: 2, &out)
            append(",\"quantity\":", &out)
            appendInt(Int64(r.quantity), &out)
        }
        append(",\"device\":\"", &out)
        append(ShopperModel.deviceNames[Int(r.device)], &out)
        append("\",\"channel\":\"", &out)
        append(ShopperModel.channelNames[Int(r.channel)], &out)
        append("\",\"ip\":\"", &out)
        appendInt(Int64(r.ip >> 24), &out)
        out.append(UInt8(ascii: "."))
        appendInt(Int64((r.ip >> 16) & 0xff), &out)
        out.append(UInt8(ascii: "."))
        appendInt(Int64((r.ip >> 8) & 0xff), &out)
        out.append(UInt8(ascii: "."))
        appendInt(Int64(r.ip & 0xff), &out)
        append("\",\"user_agent\":\"ua-", &out)
        appendInt(Int64(r.userAgent), &out)
        out.append(UInt8(ascii: "\""))
        if r.probability >= 0 {
            append(",\"truth\":{\"p\":", &out)
            appendFixed(Int64((min(r.probability, 1) * 1_000_000).rounded()), decimals: 6, &out)
            out.append(UInt8(ascii: "}"))
        }
        append("}\n", &out)
    }

    @inline(__always)
    static func append(_ s: StaticString, _ out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    /// Decimal digits of a (non-negative in practice) integer, written back to front in place.
    @inline(__always)
    static func appendInt(_ value: Int64, _ out: inout [UInt8]) {
        var v = value
        if v < 0 {
            out.append(UInt8(ascii: "-"))
            v = 0 &- v
        }
        var digits = 1
        var probe = v / 10
        while probe > 0 {
            digits += 1
            probe /= 10
        }
        let end = out.count + digits
        for _ in 0..<digits { out.append(0) }
        var i = end - 1
        repeat {
            out[i] = UInt8(truncatingIfNeeded: 48 + v % 10)
            v /= 10
            i -= 1
        } while v > 0
    }

    /// `scaled / 10^decimals` with exactly `decimals` fractional digits (scaled ≥ 0).
    @inline(__always)
    static func appendFixed(_ scaled: Int64, decimals: Int, _ out: inout [UInt8]) {
        var divisor: Int64 = 1
        for _ in 0..<decimals { divisor *= 10 }
        appendInt(scaled / divisor, &out)
        out.append(UInt8(ascii: "."))
        var fraction = scaled % divisor
        var place = divisor / 10
        while place > 0 {
            out.append(UInt8(truncatingIfNeeded: 48 + fraction / place))
            fraction %= place
            place /= 10
        }
    }
}
