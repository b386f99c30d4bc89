import FunnelCore

/// `summary.json`: counts by reason, users, funnel totals; timings only under `performance`.
enum SummaryWriter {
    static func encode(engine: Engine, inputs: [String], result: ReplayDriver.Result,
                       outputs: [String: Int], alerts: AlertCounts? = nil) -> [UInt8] {
        var out = JSONBuffer(capacity: 4096)
        let stats = engine.stats
        out.beginObject()
        out.key("schema"); out.string("funnelpulse.summary.v1")
        out.key("inputs")
        out.beginArray()
        for input in inputs { out.string(input) }
        out.endArray()
        out.key("records_read"); out.int(stats.read)
        out.key("events_accepted"); out.int(stats.accepted)
        out.key("duplicates_dropped"); out.int(stats.duplicates)
        out.key("lines_skipped"); out.int(stats.skipped)
        out.key("rejected_total"); out.int(stats.rejectedTotal)
        out.key("rejected")
        out.beginObject()
        for reason in DeadLetterReason.allCases where stats.rejected[Int(reason.rawValue)] > 0 {
            out.key(escaping: reason.name); out.int(stats.rejected[Int(reason.rawValue)])
        }
        out.endObject()
        out.key("watermark_ms")
        if engine.maxEventTime == .min { out.null() } else { out.int(engine.watermark / 1000) }
        out.key("max_event_time")
        if engine.maxEventTime == .min { out.null() } else { out.timestamp(engine.maxEventTime) }
        out.key("users")
        out.beginObject()
        out.key("tracked"); out.int(engine.users.count)
        out.key("evicted_idle"); out.int(engine.users.evictedIdle)
        out.key("evicted_capacity"); out.int(engine.users.evictedCapacity)
        out.key("record_bytes"); out.int(UserStore.recordBytes)
        out.key("max_users"); out.int(engine.config.effectiveMaxUsers)
        out.key("funnel_attempts_evicted"); out.int(Int(engine.funnels.evictedAttempts))
        out.key("open_carts_evicted"); out.int(engine.alerts?.carts.evictedCarts ?? 0)
        out.endObject()
        out.key("funnels")
        out.beginArray()
        for counters in engine.funnels.funnels {
            out.beginObject()
            out.key("name"); out.string(counters.spec.name)
            let totals = counters.totalStats
            out.key("overall_conversion_rate"); out.optionalDouble(FunnelSnapshot.overallRate(totals))
            out.key("steps")
            out.beginArray()
            for (i, s) in totals.enumerated() {
                out.beginObject()
                out.key("step"); out.string(counters.spec.steps[i].name)
                out.key("entered"); out.int(s.entered)
                out.key("converted"); out.int(s.converted)
                out.key("dropped"); out.int(s.dropped)
                out.key("in_flight"); out.int(s.inFlight)
                out.key("conversion_rate"); out.optionalDouble(s.conversionRate)
                out.endObject()
            }
            out.endArray()
            out.endObject()
        }
        out.endArray()
        if let model = engine.model { encodeModel(model, into: &out) }
        if let alerts {
            out.key("alerts")
            out.beginObject()
            for kind in AlertKind.allCases {
                let counts = AlertState.allCases.map { alerts.count(kind, $0) }
                guard counts.contains(where: { $0 > 0 }) else { continue }
                out.key(escaping: kind.rawValue)
                out.beginObject()
                for (state, n) in zip(AlertState.allCases, counts) where n > 0 {
                    out.key(escaping: state.rawValue); out.int(n)
                }
                out.endObject()
            }
            out.endObject()
        }
        out.key("outputs")
        out.beginObject()
        for (name, count) in outputs.sorted(by: { $0.key < $1.key }) {
            out.key(escaping: name); out.int(count)
        }
        out.endObject()
        out.key("performance")
        out.beginObject()
        out.key("elapsed_seconds"); out.double(result.elapsedSeconds, decimals: 3)
        out.key("events_per_second"); out.double(result.eventsPerSecond, decimals: 0)
        out.key("bytes_per_user"); out.double(result.bytesPerUser, decimals: 1)
        out.endObject()
        out.endObject()
        return out.bytes
    }

    /// The conversion model: bookkeeping counters and progressive quality from resolved labels.
    static func encodeModel(_ model: ConversionModel, into out: inout JSONBuffer) {
        let stats = model.stats
        out.key("model")
        out.beginObject()
        out.key("version"); out.int(model.version)
        out.key("optimizer"); out.string(model.config.optimizer.rawValue)
        out.key("hash_bits"); out.int(model.config.hashBits)
        out.key("delay"); out.string(model.config.delay.rawValue)
        out.key("horizon_seconds"); out.int(model.config.horizonSeconds)
        out.key("predictions"); out.int(stats.predictions)
        out.key("resolved_positive"); out.int(stats.resolvedPositive)
        out.key("resolved_negative"); out.int(stats.resolvedNegative)
        out.key("learned"); out.int(stats.learned)
        out.key("pending"); out.int(model.pending.count)
        out.key("pending_overflow_dropped"); out.int(stats.overflowDropped)
        let q = model.quality
        out.key("quality")
        out.beginObject()
        out.key("threshold"); out.double(q.threshold)
        out.key("all"); encodeQuality(q.all, into: &out)
        out.key("recent")
        out.beginObject()
        out.key("window"); out.int(q.window)
        out.key("metrics"); encodeQuality(q.recent, into: &out)
        out.endObject()
        out.key("by_step")
        out.beginArray()
        for (i, acc) in q.byStep.enumerated() where acc.count > 0 {
            out.beginObject()
            out.key("step"); out.string(q.stepNames[i])
            out.key("metrics"); encodeQuality(acc, into: &out)
            out.endObject()
        }
        out.endArray()
        out.endObject()
        out.endObject()
    }

    static func encodeQuality(_ q: QualityAccumulator, into out: inout JSONBuffer) {
        out.beginObject()
        out.key("resolved"); out.int(q.count)
        out.key("positives"); out.int(q.positives)
        out.key("auc"); out.optionalDouble(q.auc)
        out.key("log_loss"); out.optionalDouble(q.logLoss)
        out.key("mean_score"); out.optionalDouble(q.meanScore)
        out.key("positive_rate"); out.optionalDouble(q.positiveRate)
        out.key("precision"); out.optionalDouble(q.precision)
        out.key("recall"); out.optionalDouble(q.recall)
        out.key("f1"); out.optionalDouble(q.f1)
        out.endObject()
    }
}
