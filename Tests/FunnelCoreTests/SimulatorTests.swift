import Foundation  // tests only: JSONSerialization / JSONEncoder to cross-check the hand-written output
import Testing

@testable import FunnelCore

/// One parsed line of simulator output (only the fields the checks need).
private struct Line {
    var ts: Int64
    var user: Int
    var session: Int
    var type: String
    var device: String
    var ip: String
    var userAgent: String
    var p: Double?
    var hasPrice: Bool
    var hasItem: Bool
}

/// Minimal field reader for the simulator's own flat JSON (fixed keys, no escapes).
private func field(_ line: [UInt8], _ key: String) -> String? {
    let pattern = Array("\"\(key)\":".utf8)
    return line.withUnsafeBufferPointer { bytes -> String? in
        var i = 0
        outer: while i + pattern.count < bytes.count {
            for k in 0..<pattern.count where bytes[i + k] != pattern[k] {
                i += 1
                continue outer
            }
            var j = i + pattern.count
            let quoted = bytes[j] == UInt8(ascii: "\"")
            if quoted { j += 1 }
            var end = j
            while end < bytes.count {
                let b = bytes[end]
                if quoted ? b == UInt8(ascii: "\"") : (b == UInt8(ascii: ",") || b == UInt8(ascii: "}")) { break }
                end += 1
            }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[j..<end]), as: UTF8.self)
        }
        return nil
    }
}

private func number(_ id: String?) -> Int { Int(id?.split(separator: "-").last ?? "") ?? -1 }

/// Runs a simulator to the end; returns raw lines, parsed lines and the simulator.
private func run(_ config: SimulatorConfig) -> (raw: [[UInt8]], lines: [Line], sim: Simulator) {
    var sim = Simulator(config: config)
    var raw: [[UInt8]] = []
    var lines: [Line] = []
    var buffer: [UInt8] = []
    while sim.next(into: &buffer) {
        let line = buffer
        buffer.removeAll(keepingCapacity: true)
        raw.append(line)
        lines.append(
            Line(
                ts: Int64(field(line, "ts") ?? "") ?? -1, user: number(field(line, "user_id")),
                session: number(field(line, "session_id")), type: field(line, "type") ?? "",
                device: field(line, "device") ?? "", ip: field(line, "ip") ?? "",
                userAgent: field(line, "user_agent") ?? "", p: field(line, "p").flatMap(Double.init),
                hasPrice: field(line, "price") != nil, hasItem: field(line, "item_id") != nil))
    }
    return (raw, lines, sim)
}

private let day: Int64 = 86_400_000
private let t0 = SimulatorConfig().start

/// Purchase times per user.
private func purchases(_ lines: [Line]) -> [Int: [Int64]] {
    var result: [Int: [Int64]] = [:]
    for l in lines where l.type == "purchase" { result[l.user, default: []].append(l.ts) }
    return result
}

@Suite struct SimulatorTests {
    @Test func sameSeedSameBytesDifferentSeedDifferentBytes() {
        let config = SimulatorConfig(seed: 7, users: 600, duration: day / 2, disorder: 0.05)
        let a = run(config).raw
        let b = run(config).raw
        #expect(a.count > 500)
        #expect(a == b)
        var other = config
        other.seed = 8
        #expect(run(other).raw != a)
    }

    @Test func linesAreOrderedJSONWithRequiredKeys() throws {
        let (raw, lines, _) = run(SimulatorConfig(seed: 3, users: 400, duration: day / 2))
        #expect(lines.count > 1000)
        let required = ["event_id", "ts", "user_id", "session_id", "type", "device", "channel", "ip", "user_agent"]
        for (index, line) in raw.enumerated() {
            #expect(line.first == UInt8(ascii: "{") && line.last == UInt8(ascii: "\n"))
            #expect(!line.dropLast().contains(UInt8(ascii: "\n")) && !line.contains(UInt8(ascii: " ")))
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
            for key in required { #expect(object[key] != nil, "missing \(key)") }
            let type = lines[index].type
            #expect(EventType(name: type) != nil)
            #expect(lines[index].hasPrice == ["view", "cart", "checkout", "purchase"].contains(type))
            #expect((object["quantity"] != nil) == lines[index].hasPrice)
            #expect((lines[index].p == nil) == (type == "purchase"))
            if ["view", "cart", "checkout", "purchase", "fav", "remove_from_cart"].contains(type) {
                #expect(lines[index].hasItem && object["category"] != nil)
            }
            if index > 0 { #expect(lines[index - 1].ts <= lines[index].ts) }
            #expect(lines[index].ts >= t0 && lines[index].ts < t0 + day / 2)
        }
        // Key order is fixed: compare the key sequence with the documented one.
        let order = ["event_id", "ts", "user_id", "session_id", "type", "item_id", "category", "price",
                     "quantity", "device", "channel", "ip", "user_agent", "truth"]
        for line in raw.prefix(300) {
            let text = String(decoding: line, as: UTF8.self)
            let positions = order.compactMap { key in text.range(of: "\"\(key)\":").map { $0.lowerBound } }
            #expect(positions == positions.sorted())
        }
    }

    @Test func disorderDelaysSomeEventsByAtMostTheBound() {
        let (_, lines, sim) = run(SimulatorConfig(seed: 4, users: 400, duration: day / 4, disorder: 0.1))
        var maxSeen: Int64 = 0
        var late = 0
        for l in lines {
            if l.ts < maxSeen { late += 1 }
            #expect(maxSeen - l.ts <= sim.config.disorderMaxMillis)
            maxSeen = max(maxSeen, l.ts)
        }
        #expect(late > 0)
        let ordered = run(SimulatorConfig(seed: 4, users: 400, duration: day / 4)).lines
        #expect(ordered.count == lines.count)  // disorder reorders, never changes what is generated
    }

    /// The proof that `truth.p` is exact: labels drawn by the process must agree with p.
    /// Events of one session share their future, so residuals y − p are summed per session
    /// (independent, mean 0 if p is exact). Under exact p, Var(Σ_i y_i) within a session is at
    /// most (Σ_i √(p_i(1−p_i)))² (Cauchy–Schwarz, whatever the correlation), so
    /// z = Σ r_s / √Σ_s (Σ_i σ_i)² is a conservative standard score; |z| < 4 must hold overall
    /// and in every decile of p. Rare-event deciles are handled correctly because the variance
    /// comes from p, not from the (mostly zero) observed residuals.
    @Test(arguments: [1800, 120])
    func truthProbabilityIsCalibrated(horizon: Int) {
        var config = SimulatorConfig(seed: 11, users: 3000, duration: day, horizonSeconds: horizon)
        config.purchaseRateScale = 8
        let (_, lines, _) = run(config)
        let bought = purchases(lines)
        let h = Int64(horizon) * 1000
        var points: [(p: Double, y: Double, session: Int)] = []
        for l in lines {
            guard let p = l.p, l.ts + h < t0 + day else { continue }
            let y = bought[l.user]?.contains { $0 > l.ts && $0 <= l.ts + h } == true ? 1.0 : 0.0
            points.append((p, y, l.session))
        }
        func stats(_ subset: ArraySlice<(p: Double, y: Double, session: Int)>) -> (rate: Double, z: Double, se: Double) {
            var residual: [Int: Double] = [:]
            var sigma: [Int: Double] = [:]
            var positives = 0.0
            for point in subset {
                residual[point.session, default: 0] += point.y - point.p
                sigma[point.session, default: 0] += (point.p * (1 - point.p)).squareRoot()
                positives += point.y
            }
            let total = residual.values.reduce(0, +)
            let variance = sigma.values.reduce(0) { $0 + $1 * $1 }
            let z = variance > 0 ? total / variance.squareRoot() : (total == 0 ? 0 : .infinity)
            return (positives / Double(subset.count), z, variance.squareRoot() / Double(subset.count))
        }
        let all = stats(points[...])
        let meanP = points.reduce(0) { $0 + $1.p } / Double(points.count)
        print("horizon \(horizon)s: \(points.count) points, mean p \(meanP), positive rate \(all.rate), z \(all.z)")
        #expect(points.count > 20_000)
        #expect(abs(all.z) < 4)
        let sorted = points.sorted { $0.p < $1.p }
        var previous = (rate: 0.0, z: 0.0, se: 0.0)
        for decile in 0..<10 {
            let bucket = stats(sorted[(decile * sorted.count / 10)..<((decile + 1) * sorted.count / 10)])
            #expect(abs(bucket.z) < 4, "decile \(decile): z \(bucket.z)")
            let slack = 4 * (bucket.se * bucket.se + previous.se * previous.se).squareRoot()
            #expect(bucket.rate >= previous.rate - slack, "decile \(decile) not monotone")
            previous = bucket
        }
        #expect(stats(sorted[(9 * sorted.count / 10)...]).rate > 5 * stats(sorted[..<(sorted.count / 2)]).rate)
    }

    /// `truth.p` is the Bayes-optimal probability given the stream: with the calibration above
    /// (it is P(purchase within H) given itself), it must also be a function of what the stream
    /// has shown by then. Key each event by that — where the session is (landing, browse, carted,
    /// checkout), its device, channel and starting hour, the user's earlier sessions and purchases
    /// (clamped as the process clamps them) and the category of the session's first product — and
    /// every key must carry one probability. A latent intent breaks this, and the check sees it.
    @Test func truthProbabilityDependsOnlyOnWhatTheStreamShowed() {
        func distinctProbabilities(sigma: Double) -> (keys: Int, conflicting: Int) {
            var config = SimulatorConfig(seed: 13, users: 3000, duration: day)
            config.latentIntentSigma = sigma
            let (raw, lines, _) = run(config)
            struct SessionState { var start: Int64; var stage: Int; var category: String?; var sessions: Int; var purchases: Int }
            var sessions: [Int: SessionState] = [:]
            var sessionCount: [Int: Int] = [:]
            var purchaseCount: [Int: Int] = [:]
            var seen: [String: Double] = [:]
            var conflicting = Set<String>()
            for (line, l) in zip(raw, lines) {
                var state = sessions[l.session] ?? {
                    defer { sessionCount[l.user, default: 0] += 1 }
                    return SessionState(start: l.ts, stage: 0, category: nil, sessions: sessionCount[l.user, default: 0],
                                        purchases: purchaseCount[l.user, default: 0])
                }()
                if state.category == nil { state.category = field(line, "category") }
                if l.type == "cart" { state.stage = max(state.stage, 1) }
                if l.type == "checkout" { state.stage = 2 }
                sessions[l.session] = state
                if l.type == "purchase" {
                    purchaseCount[l.user, default: 0] += 1
                    continue
                }
                guard let p = l.p else { continue }
                let hour = (state.start % day) / 3_600_000
                let key = "\(state.stage) \(state.category ?? "landing") \(l.device) \(field(line, "channel") ?? "") \(hour) "
                    + "\(min(state.sessions, 10)) \(min(state.purchases, 3))"
                if let known = seen[key] {
                    if abs(known - p) > 1e-6 { conflicting.insert(key) }
                } else {
                    seen[key] = p
                }
            }
            return (seen.count, conflicting.count)
        }
        let observable = distinctProbabilities(sigma: 0)
        print("sigma 0: \(observable.keys) keys, \(observable.conflicting) with more than one p")
        #expect(observable.keys > 2000)
        #expect(observable.conflicting == 0)
        let latent = distinctProbabilities(sigma: 0.35)
        print("sigma 0.35: \(latent.keys) keys, \(latent.conflicting) with more than one p")
        #expect(latent.conflicting > latent.keys / 10)
    }

    @Test func defaultPositiveRateIsInRange() {
        let (_, lines, _) = run(SimulatorConfig(seed: 5, users: 4000, duration: day))
        let bought = purchases(lines)
        var n = 0
        var positives = 0
        var sumP = 0.0
        for l in lines {
            guard let p = l.p, l.ts + 1_800_000 < t0 + day else { continue }
            n += 1
            sumP += p
            if bought[l.user]?.contains(where: { $0 > l.ts && $0 <= l.ts + 1_800_000 }) == true { positives += 1 }
        }
        print("default: \(lines.count) events, positive rate \(Double(positives) / Double(n)), mean p \(sumP / Double(n))")
        #expect(Double(positives) / Double(n) > 0.01 && Double(positives) / Double(n) < 0.05)
    }

    @Test func sessionsAreCompactAndSeparatedByMoreThanTheHorizon() {
        let (_, lines, _) = run(SimulatorConfig(seed: 9, users: 300, duration: 3 * day, horizonSeconds: 1800))
        var bySession: [Int: [Line]] = [:]
        for l in lines { bySession[l.session, default: []].append(l) }
        var spans: [Int: [(first: Int64, last: Int64)]] = [:]
        for events in bySession.values {
            for (a, b) in zip(events, events.dropFirst()) { #expect(b.ts - a.ts < 30 * 60_000) }
            let user = events[0].user
            #expect(events.allSatisfy { $0.user == user })
            spans[user, default: []].append((events[0].ts, events[events.count - 1].ts))
        }
        var multi = 0
        for list in spans.values {
            let ordered = list.sorted { $0.first < $1.first }
            for (a, b) in zip(ordered, ordered.dropFirst()) { #expect(b.first - a.last > 1_800_000) }
            if ordered.count > 1 { multi += 1 }
        }
        #expect(multi > 100)
    }

    @Test func conversionDropHalvesPurchaseConversionOnMobileInRange() {
        let start = t0 + day / 4
        let end = t0 + 3 * day / 4
        var config = SimulatorConfig(seed: 21, users: 5000, duration: day)
        config.purchaseRateScale = 25
        config.incidents = [.conversionDrop(step: .purchase, fraction: 0.5, device: "mobile", channel: nil, start: start, end: end)]
        let (_, lines, sim) = run(config)
        // Conversion of sessions that reached checkout, by (mobile?, session started in range?).
        var firstTs: [Int: (ts: Int64, device: String)] = [:]
        var reached = Set<Int>()
        var bought = Set<Int>()
        for l in lines {
            if firstTs[l.session] == nil { firstTs[l.session] = (l.ts, l.device) }
            if l.type == "checkout" { reached.insert(l.session) }
            if l.type == "purchase" { bought.insert(l.session) }
        }
        var counts: [String: (reached: Int, bought: Int)] = [:]
        for s in reached {
            guard let first = firstTs[s] else { continue }
            let key = "\(first.device == "mobile" ? "mobile" : "other")-\(first.ts >= start && first.ts < end ? "in" : "out")"
            counts[key, default: (0, 0)].reached += 1
            if bought.contains(s) { counts[key, default: (0, 0)].bought += 1 }
        }
        func rate(_ key: String) -> Double {
            let c = counts[key] ?? (0, 0)
            return Double(c.bought) / Double(max(1, c.reached))
        }
        print("conversion after checkout:", counts)
        #expect((counts["mobile-in"]?.reached ?? 0) > 150)
        #expect(abs(rate("mobile-in") / rate("mobile-out") - 0.5) < 0.15)
        #expect(abs(rate("other-in") / rate("other-out") - 1) < 0.12)
        let entry = sim.truth.incidents[0]
        #expect(entry.kind == "conversion_drop" && entry.device == "mobile" && entry.eventType == "purchase")
        #expect(entry.affectedSessions > 0 && !entry.users.isEmpty)
    }

    @Test func trackingBreakRemovesTheTypeOnlyInRange() {
        let start = t0 + day / 3
        let end = t0 + day / 2
        var config = SimulatorConfig(seed: 5, users: 800, duration: day)
        config.incidents = [.trackingBreak(type: .cart, start: start, end: end)]
        let (_, lines, sim) = run(config)
        #expect(!lines.contains { $0.type == "cart" && $0.ts >= start && $0.ts < end })
        #expect(lines.contains { $0.type == "cart" && $0.ts < start })
        #expect(lines.contains { $0.type == "cart" && $0.ts >= end })
        let removed = sim.truth.incidents[0].affectedEvents
        #expect(removed > 0)
        config.incidents = []
        let intact = run(config).lines
        #expect(intact.count == lines.count + removed)
    }

    @Test func botsClickAtRegularGapsAndNeverBuy() {
        let start = t0 + day / 8
        var config = SimulatorConfig(seed: 6, users: 200, duration: day / 4)
        config.incidents = [.bots(count: 3, ratePerSecond: 2, start: start, end: start + 600_000)]
        let (_, lines, sim) = run(config)
        let entry = sim.truth.incidents[0]
        #expect(entry.users.count == 3 && entry.ips.count == 3)
        let ids = Set(entry.users.map(number))
        let botLines = lines.filter { ids.contains($0.user) }
        #expect(botLines.count > 3 * 1100 && botLines.count == entry.affectedEvents)
        for id in ids {
            let ts = botLines.filter { $0.user == id }.map(\.ts)
            for (a, b) in zip(ts, ts.dropFirst()) { #expect(b - a >= 488 && b - a <= 512) }
            #expect(ts.allSatisfy { $0 >= start && $0 < start + 600_000 })
        }
        #expect(botLines.allSatisfy { $0.p == 0 && $0.type != "purchase" })
    }

    @Test func cardTestingBurstsCheckoutsWithoutViews() {
        var config = SimulatorConfig(seed: 8, users: 200, duration: day / 4)
        let start = t0 + day / 8
        config.incidents = [.cardTesting(users: 2, attemptsPerUser: 40, approvalRate: 0.25, start: start, end: start + 3_600_000)]
        let (_, lines, sim) = run(config)
        let entry = sim.truth.incidents[0]
        #expect(entry.users.count == 2)
        for id in entry.users.map(number) {
            let own = lines.filter { $0.user == id }
            #expect(own.filter { $0.type == "checkout" }.count == 40)
            #expect(own.allSatisfy { $0.type == "checkout" || $0.type == "purchase" })
            #expect(own.contains { $0.type == "purchase" })
            #expect(own.allSatisfy { $0.ts >= start && $0.ts < start + 3_600_000 })
            // Exact p of the first attempt: all 40 attempts' purchases fall inside 30 min here
            // (interval ≤ 12 s), so p = 1 − 0.75^40; of the last one p = 0.25.
            let checkouts = own.filter { $0.type == "checkout" }
            let interval = checkouts[1].ts - checkouts[0].ts
            let reach = min(40, Int((1_800_000 - 1000) / interval) + 1)
            #expect(abs((checkouts[0].p ?? 0) - (1 - pow(0.75, Double(reach)))) < 1e-6)
            #expect(abs((checkouts[39].p ?? 0) - 0.25) < 1e-6)
        }
    }

    @Test func sharedDeviceAccountsUseOneIpAndAgent() {
        var config = SimulatorConfig(seed: 12, users: 300, duration: day / 2)
        let start = t0 + day / 8
        config.incidents = [.sharedDevice(accounts: 25, start: start, end: start + 3_600_000)]
        let (_, lines, sim) = run(config)
        let entry = sim.truth.incidents[0]
        #expect(entry.users.count == 25 && entry.affectedSessions == 25)
        let ids = Set(entry.users.map(number))
        let own = lines.filter { ids.contains($0.user) }
        #expect(Set(own.map(\.user)).count == 25)
        #expect(own.allSatisfy { $0.ip == entry.ip && "ua-\(number($0.userAgent))" == entry.userAgent })
        #expect(own.allSatisfy { $0.device == "mobile" && $0.p != nil || $0.type == "purchase" })
        #expect(!lines.contains { !ids.contains($0.user) && $0.ip == entry.ip })
    }

    @Test func absorptionMatchesClosedForm() {
        let advance: SIMD4<Double> = [0.02, 0.05, 0.03, 0]
        let leave: SIMD4<Double> = [0.01, 0.04, 0.02, 0]
        let horizon = 60.0
        let p = FunnelChain.absorption(advance: advance, leave: leave, horizon: horizon)
        let l = advance + leave
        // Stage 2: one exponential step.
        #expect(abs(p[2] - advance[2] / l[2] * (1 - Foundation.exp(-l[2] * horizon))) < 1e-12)
        // Stage 0: path probability × hypoexponential CDF with distinct rates.
        var cdf = 1.0
        for i in 0..<3 {
            var product = 1.0
            for j in 0..<3 where j != i { product *= l[j] / (l[j] - l[i]) }
            cdf -= product * Foundation.exp(-l[i] * horizon)
        }
        let path = advance[0] / l[0] * advance[1] / l[1] * advance[2] / l[2]
        #expect(abs(p[0] - path * cdf) < 1e-12)
        // Landing: one more exponential step in front, same closed form with four rates.
        let view = FunnelChain.landingRate * FunnelChain.landingView
        let horizonMillis = 1_800_000.0
        let slow = advance * 1e-4
        let slowLeave = leave * 1e-4
        let slowExit = slow + slowLeave
        let landingExit = view + FunnelChain.landingRate * FunnelChain.landingLeave
        let slowRates: [Double] = [landingExit, slowExit[0], slowExit[1], slowExit[2]]
        var landingCDF = 1.0
        for i in 0..<4 {
            var product = 1.0
            for j in 0..<4 where j != i { product *= slowRates[j] / (slowRates[j] - slowRates[i]) }
            landingCDF -= product * Foundation.exp(-slowRates[i] * horizonMillis)
        }
        let stagePath: Double = slow[0] / slowExit[0] * slow[1] / slowExit[1] * slow[2] / slowExit[2]
        let landingPath = view / landingExit * stagePath
        let landing = FunnelChain.landingAbsorption(advance: slow, leave: slowLeave, horizon: horizonMillis)
        #expect(abs(landing - landingPath * landingCDF) < 1e-12)
        #expect(landing > 0.01)
        #expect(abs(SimMath.exp(-3.7) - Foundation.exp(-3.7)) < 1e-15)
        #expect(abs(SimMath.log(123.456) - Foundation.log(123.456)) < 1e-13)
    }

    @Test func configDecodesDefaultsAndRoundTrips() throws {
        let partial = #"{"seed":5,"incidents":[{"kind":"bots","start":1,"end":2}]}"#
        let decoded = try JSONDecoder().decode(SimulatorConfig.self, from: Data(partial.utf8))
        #expect(decoded.seed == 5 && decoded.users == SimulatorConfig().users)
        #expect(decoded.incidents == [.bots(count: 5, ratePerSecond: 2, start: 1, end: 2)])
        var config = SimulatorConfig(seed: 2)
        config.incidents = [
            .conversionDrop(step: .checkout, fraction: 0.3, device: nil, channel: "email", start: 1, end: 9),
            .trackingBreak(type: .purchase, start: 3, end: 4),
            .cardTesting(users: 2, attemptsPerUser: 9, approvalRate: 0.1, start: 5, end: 6),
            .sharedDevice(accounts: 7, start: 7, end: 8),
        ]
        let again = try JSONDecoder().decode(SimulatorConfig.self, from: JSONEncoder().encode(config))
        #expect(again == config)
        let truth = Simulator(config: config).truth
        #expect(try JSONDecoder().decode(SimulatorTruth.self, from: JSONEncoder().encode(truth)) == truth)
    }

    /// Generation speed into a reused buffer (meaningful in release: `swift test -c release`).
    @Test func generationSpeed() {
        var sim = Simulator(config: SimulatorConfig(seed: 1, users: 50_000, events: 100_000))
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        var bytes = 0
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            while sim.next(into: &buffer) {
                if buffer.count > 1 << 19 {
                    bytes += buffer.count
                    buffer.removeAll(keepingCapacity: true)
                }
            }
        }
        bytes += buffer.count
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        print("generated \(sim.eventsEmitted) events, \(bytes) bytes in \(seconds) s: \(Double(sim.eventsEmitted) / seconds) events/s")
        #expect(sim.eventsEmitted == 100_000)
    }
}
