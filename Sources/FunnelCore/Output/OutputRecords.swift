/// The JSON shapes of FunnelPulse's output records (schemas in `schemas/`).
public enum OutputRecords {
    public static let funnelSnapshotSchema = "funnelpulse.funnel_snapshot.v1"
    public static let deadLetterSchema = "funnelpulse.deadletter.v1"

    /// One funnel snapshot, one line.
    public static func encode(_ s: FunnelSnapshot, into out: inout JSONBuffer) {
        out.beginObject()
        out.key("schema"); out.string(funnelSnapshotSchema)
        out.key("funnel"); out.string(s.funnel)
        out.key("window_start"); out.timestamp(s.windowStart)
        out.key("window_end"); out.timestamp(s.windowEnd)
        out.key("window_start_ms"); out.int(s.windowStart / 1000)
        out.key("window_end_ms"); out.int(s.windowEnd / 1000)
        out.key("watermark_ms"); out.int(s.watermark / 1000)
        out.key("partial"); out.bool(s.partial)
        out.key("overall_conversion_rate"); out.optionalDouble(FunnelSnapshot.overallRate(s.steps))
        out.key("steps")
        encodeSteps(s.steps, names: s.stepNames, ttc: s.timeToConvert, into: &out)
        out.key("rolling")
        out.beginArray()
        for r in s.rolling {
            out.beginObject()
            out.key("window_seconds"); out.int(r.seconds)
            out.key("overall_conversion_rate"); out.optionalDouble(FunnelSnapshot.overallRate(r.steps))
            out.key("steps")
            encodeSteps(r.steps, names: s.stepNames, ttc: r.timeToConvert, into: &out)
            out.endObject()
        }
        out.endArray()
        out.key("breakdowns")
        out.beginArray()
        for b in s.breakdowns {
            out.beginObject()
            out.key("dimension"); out.string(b.dimension)
            out.key("values")
            out.beginArray()
            for v in b.values {
                out.beginObject()
                out.key("value"); out.string(v.name)
                out.key("overall_conversion_rate"); out.optionalDouble(FunnelSnapshot.overallRate(v.steps))
                out.key("steps")
                encodeSteps(v.steps, names: s.stepNames, ttc: nil, into: &out)
                out.endObject()
            }
            out.endArray()
            out.endObject()
        }
        out.endArray()
        out.endObject()
    }

    private static func encodeSteps(_ steps: [FunnelStepStats], names: [String], ttc: [TimeToConvert?]?,
                                    into out: inout JSONBuffer) {
        out.beginArray()
        for (i, st) in steps.enumerated() {
            out.beginObject()
            out.key("step"); out.string(names[i])
            out.key("entered"); out.int(st.entered)
            out.key("converted"); out.int(st.converted)
            out.key("dropped"); out.int(st.dropped)
            out.key("in_flight"); out.int(st.inFlight)
            out.key("conversion_rate"); out.optionalDouble(st.conversionRate)
            if let ttc {
                if let t = ttc[i] {
                    out.key("time_to_convert_s")
                    out.beginObject()
                    out.key("count"); out.int(t.count)
                    out.key("p50"); out.double(t.p50, decimals: 3)
                    out.key("p90"); out.double(t.p90, decimals: 3)
                    out.key("p99"); out.double(t.p99, decimals: 3)
                    out.endObject()
                } else {
                    out.key("time_to_convert_s"); out.null()
                }
            }
            out.endObject()
        }
        out.endArray()
    }

    /// Where a record came from, as the driver names it.
    public enum SourceName: Sendable {
        case file(String, line: Int64)
        case kafka(topic: String, partition: Int32, offset: Int64)
    }

    /// One dead-letter record: reason, detail, source, the original bytes.
    public static func encodeDeadLetter(_ failure: DecodeFailure, record: UnsafeRawBufferPointer, source: SourceName,
                                        into out: inout JSONBuffer) {
        out.beginObject()
        out.key("schema"); out.string(deadLetterSchema)
        out.key("reason"); out.string(failure.reason.name)
        out.key("detail"); out.string(failure.detail.description)
        if failure.offset >= 0 {
            out.key("byte_offset"); out.int(failure.offset)
        }
        out.key("source")
        out.beginObject()
        switch source {
        case .file(let name, let line):
            out.key("file"); out.string(name)
            out.key("line"); out.int(line)
        case .kafka(let topic, let partition, let offset):
            out.key("topic"); out.string(topic)
            out.key("partition"); out.int(partition)
            out.key("offset"); out.int(offset)
        }
        out.endObject()
        var trimmed = record.count
        if let base = record.baseAddress {
            let p = base.assumingMemoryBound(to: UInt8.self)
            while trimmed > 0 && (p[trimmed - 1] == 0x0A || p[trimmed - 1] == 0x0D) { trimmed -= 1 }
        }
        let body = UnsafeRawBufferPointer(rebasing: record[0..<trimmed])
        if UTF8Validation.isValid(body) {
            out.key("record"); out.bytesAsString(body)
            out.key("record_encoding"); out.string("utf8")
        } else {
            out.key("record"); out.string(Base64.encode(body))
            out.key("record_encoding"); out.string("base64")
        }
        out.endObject()
    }
}

public enum Base64 {
    public static func encode(_ data: UnsafeRawBufferPointer) -> String {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((data.count + 2) / 3 * 4)
        var i = 0
        while i + 2 < data.count {
            let v = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2])
            out += [table[Int(v >> 18)], table[Int(v >> 12 & 63)], table[Int(v >> 6 & 63)], table[Int(v & 63)]]
            i += 3
        }
        let rest = data.count - i
        if rest == 1 {
            let v = UInt32(data[i]) << 16
            out += [table[Int(v >> 18)], table[Int(v >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rest == 2 {
            let v = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8
            out += [table[Int(v >> 18)], table[Int(v >> 12 & 63)], table[Int(v >> 6 & 63)], UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
