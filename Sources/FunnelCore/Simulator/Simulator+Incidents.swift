/// Incident actors and rules: set-up from the configuration, the bot and card-testing
/// processes, and the per-session / per-event filters of conversion drops and tracking breaks.
extension Simulator {
    /// A conversion drop resolved to indices and simulation-relative times.
    struct DropRule: Sendable {
        var incident: Int
        /// Stage whose advance rate drops: 0 (into cart), 1 (into checkout), 2 (into purchase).
        var stage: Int
        var fraction: Double
        /// −1 any; −2 a name that is not simulated (matches nothing).
        var device: Int
        var channel: Int
        var start: Double
        var end: Double

        @inline(__always)
        func matches(time: Double, device d: Int, channel c: Int) -> Bool {
            time >= start && time < end && (device == -1 || device == d) && (channel == -1 || channel == c)
        }
    }

    /// A tracking break in absolute epoch milliseconds, as the printed `ts` is compared.
    struct BreakRule: Sendable {
        var incident: Int
        var type: EventType
        var start: Int64
        var end: Int64
    }

    mutating func setUpIncidents(_ initial: inout [SimHeap<UInt32>.Entry]) {
        dropUsers = Array(repeating: [], count: config.incidents.count)
        var botNumber: UInt32 = 0
        var testerNumber: UInt32 = 0
        for (index, incident) in config.incidents.enumerated() {
            let range = incident.range
            let start = Double(range.start - config.start)
            let end = Double(range.end - config.start)
            var entry = SimulatorTruth.Entry(
                kind: incident.kind, start: range.start, end: range.end, incident: incident)
            switch incident {
            case let .conversionDrop(step, fraction, device, channel, _, _):
                let stage: Int? = step == .cart ? 0 : step == .checkout ? 1 : step == .purchase ? 2 : nil
                entry.device = device
                entry.channel = channel
                entry.eventType = step.name
                if let stage {
                    drops.append(
                        DropRule(
                            incident: index, stage: stage, fraction: min(1, max(0, fraction)),
                            device: device.map { ShopperModel.index(of: $0, in: ShopperModel.deviceNames) ?? -2 } ?? -1,
                            channel: channel.map { ShopperModel.index(of: $0, in: ShopperModel.channelNames) ?? -2 }
                                ?? -1,
                            start: start, end: end))
                }
            case let .trackingBreak(type, _, _):
                entry.eventType = type.name
                breaks.append(BreakRule(incident: index, type: type, start: range.start, end: range.end))
            case let .bots(count, rate, _, _):
                let gap = 1000 / max(rate, 1e-6)
                entry.userAgent = "ua-\(900 + index)"
                for _ in 0..<max(0, count) {
                    botNumber += 1
                    let ip: UInt32 = 172 << 24 | 16 << 16 | botNumber
                    let user = addActor(.bot, incident: index, ip: ip, entry: &entry)
                    let s = scriptedSession(ip: ip, userAgent: 900 + Int32(index))
                    sessions[s].interval = gap
                    sessions[s].stopTime = end
                    actors[user].session = Int32(s)
                    entry.affectedSessions += 1
                    let first = start + random.uniform() * min(gap, max(0, end - start))
                    initial.append(.init(time: first, tie: UInt64(user), payload: UInt32(user)))
                }
            case let .cardTesting(users, attempts, approval, _, _):
                entry.userAgent = "ua-\(950 + index)"
                for _ in 0..<max(0, users) {
                    testerNumber += 1
                    let ip: UInt32 = 192 << 24 | 168 << 16 | testerNumber
                    let user = addActor(.cardTester, incident: index, ip: ip, entry: &entry)
                    let s = scriptedSession(ip: ip, userAgent: 950 + Int32(index))
                    let interval = Double(3000 + random.below(9001))
                    let span = Double(max(1, attempts)) * interval + 1000
                    let origin = start + (random.uniform() * max(0, end - start - span)).rounded(.down)
                    let item = random.below(catalog.itemCount)
                    sessions[s].interval = interval
                    sessions[s].origin = origin
                    sessions[s].targetItem = Int32(item)
                    sessions[s].priceCents = Int32(100 + random.below(400))
                    sessions[s].attemptLimit = Int32(clamping: max(1, attempts))
                    sessions[s].approval = min(1, max(0, approval))
                    actors[user].session = Int32(s)
                    entry.affectedSessions += 1
                    initial.append(.init(time: origin, tie: UInt64(user), payload: UInt32(user)))
                }
            case let .sharedDevice(accounts, _, _):
                let ip: UInt32 = 100 << 24 | 64 << 16 | UInt32(truncatingIfNeeded: index + 1)
                entry.device = "mobile"
                entry.ip = "100.64.\((index + 1) >> 8).\((index + 1) & 0xff)"
                entry.userAgent = "ua-\(980 + index)"
                for _ in 0..<max(0, accounts) {
                    let user = addActor(.sharedAccount, incident: index, ip: ip, entry: &entry)
                    entry.ips.removeLast()  // one shared ip, reported once in `ip`
                    actors[user].primaryDevice = 0
                    actors[user].preferredChannel = UInt8(random.pick(ShopperModel.channelCDF))
                    actors[user].intent = intents[ShopperModel.intentLevel(normal: random.normal())]
                    let first = start + random.uniform() * max(0, end - start)
                    initial.append(.init(time: first, tie: UInt64(user), payload: UInt32(user)))
                }
            }
            entries.append(entry)
        }
    }

    private mutating func addActor(
        _ kind: SimActor.Kind, incident: Int, ip: UInt32, entry: inout SimulatorTruth.Entry
    ) -> Int {
        var actor = SimActor(kind: kind)
        actor.incident = UInt16(truncatingIfNeeded: incident)
        actor.ip = ip
        actors.append(actor)
        let user = actors.count - 1
        entry.users.append("u-\(user)")
        entry.ips.append("\(ip >> 24).\((ip >> 16) & 0xff).\((ip >> 8) & 0xff).\(ip & 0xff)")
        return user
    }

    /// One crawler click: a page, product view or search at a near-constant gap (±2 %).
    /// Bots never buy, so their `truth.p` is exactly 0.
    mutating func stepBot(_ user: Int, at time: Double) -> SimEventRecord {
        let s = Int(actors[user].session)
        let session = sessions[s]
        let u = random.uniform()
        let type: EventType = u < 0.6 ? .view : u < 0.9 ? .page : .search
        var record = SimEventRecord(
            time: time, user: user, session: session.id, type: type, device: session.device,
            channel: session.channel, userAgent: session.userAgent, ip: session.ip, probability: 0)
        if type == .view {
            let item = random.below(catalog.itemCount)
            record.item = Int32(item)
            record.category = Int32(catalog.category(ofItem: item))
            record.priceCents = catalog.priceCents[item]
        }
        let next = time + session.interval * (1 + 0.04 * (random.uniform() - 0.5))
        if next < session.stopTime {
            heap.retimeTop(next)
        } else {
            freeSessions.append(Int32(s))
            actors[user].session = -1
            heap.pop()
        }
        return record
    }

    /// One card-testing step: a checkout attempt, or the purchase 1 s after an approved one.
    ///
    /// Attempt j happens exactly at origin + j·interval and its purchase (if approved, with
    /// probability q, independently) 1 s later, so from attempt a the purchases that can fall
    /// in (t, t+H] are those of the m attempts j ≥ a with (j−a)·interval + 1 s ≤ H, and
    /// p = 1 − (1−q)^m exactly.
    mutating func stepCardTester(_ user: Int, at time: Double) -> SimEventRecord {
        let s = Int(actors[user].session)
        let session = sessions[s]
        let type: EventType = session.purchasePending ? .purchase : .checkout
        var probability = -1.0
        if type == .checkout {
            let remaining = Int(session.attemptLimit - session.attempt)
            let reach = horizonMillis >= 1000 ? Int(((horizonMillis - 1000) / session.interval).rounded(.down)) + 1 : 0
            var miss = 1.0
            for _ in 0..<min(remaining, reach) { miss *= 1 - session.approval }
            probability = 1 - miss
        }
        let item = Int(session.targetItem)
        let record = SimEventRecord(
            time: time, user: user, session: session.id, type: type, item: Int32(item),
            category: Int32(catalog.category(ofItem: item)), priceCents: session.priceCents, quantity: 1,
            device: session.device, channel: session.channel, userAgent: session.userAgent, ip: session.ip,
            probability: probability)
        if type == .checkout && random.uniform() < session.approval {
            sessions[s].purchasePending = true
            heap.retimeTop(time + 1000)
            return record
        }
        sessions[s].purchasePending = false
        sessions[s].attempt += 1
        if sessions[s].attempt < session.attemptLimit {
            heap.retimeTop(session.origin + Double(sessions[s].attempt) * session.interval)
        } else {
            freeSessions.append(Int32(s))
            actors[user].session = -1
            heap.pop()
        }
        return record
    }

    /// Whether a generated event falls into a tracking break (and so is never written).
    mutating func isTrackingBroken(_ record: SimEventRecord) -> Bool {
        if breaks.isEmpty { return false }
        let ts = config.start + Int64(record.time.rounded(.down))
        for rule in breaks where rule.type == record.type && ts >= rule.start && ts < rule.end {
            entries[rule.incident].affectedEvents += 1
            return true
        }
        return false
    }
}

extension Simulator {
    /// A session for a scripted incident actor (bot, card tester): one fixed device, channel,
    /// ip and user agent; the caller sets its pacing.
    mutating func scriptedSession(ip: UInt32, userAgent: Int32) -> Int {
        let s = allocateSession()
        sessions[s].id = newSessionNumber()
        sessions[s].device = 1
        sessions[s].channel = 4
        sessions[s].ip = ip
        sessions[s].userAgent = userAgent
        return s
    }
}
