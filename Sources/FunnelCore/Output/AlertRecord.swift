/// The JSON shape of an alert record (`schemas/alert.schema.json`).
public enum AlertRecord {
    public static let schema = "funnelpulse.alert.v1"

    /// Kafka key: funnel alerts by alert id (one partition keeps a lifecycle in order), fraud
    /// alerts and signals by entity.
    public static func key(_ alert: Alert) -> String {
        alert.kind.family == .funnel ? alert.id : "\(alert.entityType):\(alert.entity)"
    }

    public static func encode(_ a: Alert, into out: inout JSONBuffer) {
        out.beginObject()
        out.key("schema"); out.string(schema)
        out.key("alert_id"); out.string(a.id)
        out.key("kind"); out.string(a.kind.rawValue)
        out.key("family"); out.string(a.kind.family.rawValue)
        out.key("state"); out.string(a.state.rawValue)
        out.key("severity"); out.string(a.severity.rawValue)
        out.key("time"); out.timestamp(a.time)
        out.key("time_ms"); out.int(a.time / 1000)
        out.key("since_ms"); out.int(a.since / 1000)
        out.key("entity_type"); out.string(a.entityType)
        out.key("entity"); out.string(a.entity)
        optional("funnel", a.funnel, &out)
        optional("step", a.step, &out)
        optional("dimension", a.dimension, &out)
        optional("value", a.value, &out)
        if let v = a.observedRate { out.key("observed_rate"); out.double(v) }
        if let v = a.observedCount { out.key("observed_count"); out.int(v) }
        if let v = a.volume { out.key("volume"); out.int(v) }
        if let v = a.expectedCount { out.key("expected_count"); out.double(v, decimals: 2) }
        if let v = a.baselineRate { out.key("baseline_rate"); out.double(v) }
        if let low = a.intervalLow, let high = a.intervalHigh {
            out.key("interval")
            out.beginArray()
            out.double(low)
            out.double(high)
            out.endArray()
        }
        if let v = a.shortRate { out.key("short_window_rate"); out.double(v) }
        out.key("evidence")
        out.beginObject()
        for e in a.evidence {
            out.key(escaping: e.name)
            if e.value.isFinite { out.double(e.value) } else { out.null() }
        }
        out.endObject()
        out.key("root_causes")
        out.beginArray()
        for c in a.causes {
            out.beginObject()
            out.key("dimension"); out.string(c.dimension)
            out.key("value"); out.string(c.value)
            out.key("volume"); out.int(c.volume)
            out.key("observed_rate"); out.double(c.observedRate)
            out.key("baseline_rate"); out.double(c.baselineRate)
            out.key("lost_conversions"); out.double(c.lostConversions, decimals: 2)
            out.key("share_of_drop"); out.double(c.share, decimals: 4)
            out.endObject()
        }
        out.endArray()
        out.key("message"); out.string(a.message)
        out.endObject()
    }

    private static func optional(_ key: StaticString, _ value: String?, _ out: inout JSONBuffer) {
        guard let value else { return }
        out.key(key)
        out.string(value)
    }
}
