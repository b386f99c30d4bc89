/// Building the alert records. Only reached for an alert that passed its cooldown, so strings
/// and arrays are fine here.
extension EntityDetector {
    func alert(_ rule: EntityRule, _ event: Event, entity: String, message: String,
               evidence: [AlertEvidence]) -> Alert {
        var alert = Alert(
            id: "\(rule.kind.rawValue):\(rule.entityType):\(entity)", kind: rule.kind, state: .firing,
            severity: rule.severity, time: event.timestamp, since: event.timestamp, entityType: rule.entityType,
            entity: entity, message: message)
        alert.evidence = evidence
        return alert
    }

    /// The user id's text, or `#<key hex>` when the record has none.
    static func userText(_ event: Event, _ record: UnsafeRawBufferPointer) -> String {
        let text = TextField.string(event.user, in: record)
        return text.isEmpty ? "#" + String(event.userKey, radix: 16) : text
    }

    /// The user entity of an alert: ``userText(_:_:)``, pseudonymized when that is on.
    func userEntity(_ event: Event, _ record: UnsafeRawBufferPointer) -> String {
        let text = Self.userText(event, record)
        return pseudonymizer?.pseudonym(text) ?? text
    }

    static func ipText(_ event: Event, _ record: UnsafeRawBufferPointer) -> String {
        let text = TextField.string(event.ip, in: record)
        return text.isEmpty ? "#" + String(event.ipKey, radix: 16) : text
    }

    static func userAgentText(_ event: Event, _ record: UnsafeRawBufferPointer) -> String {
        let text = TextField.string(event.userAgent, in: record)
        return text.isEmpty ? "#" + String(event.userAgentKey, radix: 16) : text
    }

    var shortSeconds: Int { windowSeconds.isEmpty ? 60 : windowSeconds[shortWindow] }

    func velocityAlert(_ event: Event, count: Int, record: UnsafeRawBufferPointer) -> Alert {
        let user = userEntity(event, record)
        let perMinute = Double(count) * 60 / Double(shortSeconds)
        let threshold = Self.format(config.velocity.eventsPerMinute, 1)
        return alert(
            .velocity, event, entity: user,
            message: "user \(user) made \(count) events in \(shortSeconds) s "
                + "(\(Self.format(perMinute, 1))/min, threshold \(threshold)/min)",
            evidence: [
                AlertEvidence("events_per_minute", perMinute), AlertEvidence("events", Double(count)),
                AlertEvidence("window_seconds", Double(shortSeconds)),
            ])
    }

    func cartBurstAlert(_ event: Event, carts: Int, record: UnsafeRawBufferPointer) -> Alert {
        let user = userEntity(event, record)
        let window = windowSeconds.isEmpty ? 0 : windowSeconds[cartWindow]
        return alert(
            .cartBurst, event, entity: user,
            message: "user \(user) added to cart \(carts) times in \(window) s (threshold \(config.cartBurst.carts))",
            evidence: [AlertEvidence("carts", Double(carts)), AlertEvidence("window_seconds", Double(window))])
    }

    func checkoutWithoutViewAlert(_ event: Event, checkouts: Int, purchases: Int,
                                  record: UnsafeRawBufferPointer) -> Alert {
        let user = userEntity(event, record)
        return alert(
            .checkoutWithoutView, event, entity: user,
            message: "user \(user) made \(checkouts) checkouts and \(purchases) purchases without viewing a product",
            evidence: [
                AlertEvidence("attempts", Double(checkouts + purchases)), AlertEvidence("checkouts", Double(checkouts)),
                AlertEvidence("purchases", Double(purchases)), AlertEvidence("views", 0),
            ])
    }

    func fastPurchaseAlert(_ event: Event, seconds: Int64, record: UnsafeRawBufferPointer) -> Alert {
        let user = userEntity(event, record)
        return alert(
            .fastPurchase, event, entity: user,
            message: "user \(user) purchased \(seconds) s after first being seen "
                + "(threshold \(config.fastPurchase.withinSeconds) s)",
            evidence: [AlertEvidence("seconds_since_first_seen", Double(seconds))])
    }

    func sharedAlert(_ rule: EntityRule, _ event: Event, users: Int, record: UnsafeRawBufferPointer) -> Alert {
        let ip = Self.ipText(event, record)
        let isDevice = rule == .sharedDevice
        let entity = isDevice ? ip + "|" + Self.userAgentText(event, record) : ip
        let window = isDevice ? config.sharedDevice.windowSeconds : config.sharedIP.windowSeconds
        return alert(
            rule, event, entity: entity,
            message: "\(users) distinct users from \(isDevice ? "device" : "ip") \(entity) within \(window) s",
            evidence: [AlertEvidence("distinct_users", Double(users)), AlertEvidence("window_seconds", Double(window))])
    }

    func botTimingAlert(_ event: Event, mean: Double, cv: Double, record: UnsafeRawBufferPointer) -> Alert {
        let user = userEntity(event, record)
        let gaps = timing.ring
        return alert(
            .botTiming, event, entity: user,
            message: "user \(user): last \(gaps) inter-event gaps average \(Self.format(mean, 2)) s "
                + "with coefficient of variation \(Self.format(cv, 3)) (machine-regular)",
            evidence: [
                AlertEvidence("gap_cv", cv), AlertEvidence("mean_gap_seconds", mean),
                AlertEvidence("gaps", Double(gaps)),
            ])
    }

    func outlierAlert(_ event: Event, score: Double, raw: SIMD8<Double>, record: UnsafeRawBufferPointer) -> Alert {
        let user = userEntity(event, record)
        let names = OutlierModel.featureNames(windowSeconds: windowSeconds, model: outlier)
        var x = SIMD8<Double>.zero
        for f in 0..<OutlierModel.featureCount { x[f] = MathShim.log1p(raw[f]) }
        let parts = outlier.contributions(x)
        let top = (0..<OutlierModel.featureCount).sorted { parts[$0] > parts[$1] }.prefix(3).filter { parts[$0] > 0 }
        var evidence = [AlertEvidence("score", score)]
        for f in top {
            evidence.append(AlertEvidence(names[f], raw[f]))
            evidence.append(AlertEvidence(names[f] + "_contribution", parts[f]))
        }
        let summary = top.map { "\(names[$0]) \(Self.format(raw[$0], 0))" }.joined(separator: ", ")
        return alert(
            .outlier, event, entity: user,
            message: "user \(user) is a statistical outlier (score \(Self.format(score, 1)), "
                + "threshold \(Self.format(config.outlier.threshold, 1))): \(summary)",
            evidence: evidence)
    }

    /// `value` with `decimals` fractional digits (no Foundation).
    static func format(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        var scale = 1.0
        for _ in 0..<max(0, decimals) { scale *= 10 }
        let scaled = (value.magnitude * scale).rounded()
        guard scaled < 9e15 else { return "\(value)" }
        let digits = Int64(scaled)
        let unit = Int64(scale)
        let sign = value < 0 && digits != 0 ? "-" : ""
        guard decimals > 0 else { return sign + String(digits) }
        var fraction = String(digits % unit)
        while fraction.count < decimals { fraction = "0" + fraction }
        return sign + String(digits / unit) + "." + fraction
    }
}
