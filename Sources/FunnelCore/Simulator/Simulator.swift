/// The built-in clickstream generator: ordinary shoppers following ``FunnelChain`` plus the
/// configured ``Incident``s, emitted as JSON lines in event-time order.
///
/// Every user (shopper or incident actor) sits in a min-heap keyed by the time of its next
/// jump; each call pops the earliest, advances that user's process and writes the resulting
/// event. A stream of any length therefore needs memory only for the users and their open
/// sessions, and events come out in nondecreasing time (unless `disorder` delays some of them
/// on purpose, through a second small heap keyed by release time).
///
/// Identical configurations produce identical bytes: one seeded ``SimRandom`` drives the process
/// in a fixed order, and a second one, used only for disorder, keeps `disorder` from changing
/// what is generated — it only changes when lines are written.
public struct Simulator {
    public let config: SimulatorConfig
    /// Lines written so far.
    public private(set) var eventsEmitted: Int = 0

    var random: SimRandom
    var disorderRandom: SimRandom
    let catalog: SimCatalog
    var actors: [SimActor] = []
    var sessions: [SimSession] = []
    var freeSessions: [Int32] = []
    /// Actors by next jump time; payload is the actor index (= user number).
    var heap = SimHeap<UInt32>()
    /// Disordered events by release time.
    var delayed = SimHeap<SimEventRecord>(capacity: 64)
    var delayedCount: UInt64 = 0
    var nextSessionNumber = 0
    var nextEventNumber = 0
    /// End of the span and H, in milliseconds after `config.start`.
    let endMillis: Double
    let horizonMillis: Double
    /// Candidate session-arrival rate per user per millisecond at the diurnal peak (thinning).
    let arrivalCandidateRate: Double
    /// The latent intent's values (``ShopperModel/intents(sigma:)``).
    let intents: [Float]
    var drops: [DropRule] = []
    var breaks: [BreakRule] = []
    var entries: [SimulatorTruth.Entry] = []
    /// conversion_drop: user numbers of affected sessions, per incident index.
    var dropUsers: [[Int32]] = []
    /// Landing probability per combination of what sets a session's rates apart from its
    /// category (see ``landingProbability(_:)``).
    var landingProbabilities: [LandingKey: Double] = [:]

    public init(config: SimulatorConfig) {
        self.config = config
        random = SimRandom(seed: config.seed)
        disorderRandom = SimRandom(seed: StableHash.mix(config.seed ^ 0xd150_4de5))
        catalog = SimCatalog(
            categories: config.categories, items: config.items, zipf: config.zipfExponent, random: &random)
        endMillis = Double(max(0, config.duration))
        horizonMillis = Double(max(0, config.horizonSeconds)) * 1000
        arrivalCandidateRate = max(0, config.sessionsPerUserPerDay) / 86_400_000 * ShopperModel.trafficPeak

        intents = ShopperModel.intents(sigma: max(0, config.latentIntentSigma))
        let userCount = max(0, config.users)
        actors.reserveCapacity(userCount)
        var initial: [SimHeap<UInt32>.Entry] = []
        initial.reserveCapacity(userCount)
        for user in 0..<userCount {
            let bits = StableHash.mix(config.seed ^ UInt64(user) &* 0x9e37_79b9_7f4a_7c15)
            var actor = SimActor(kind: .shopper)
            actor.primaryDevice = UInt8(random.pick(ShopperModel.deviceCDF))
            actor.preferredChannel = UInt8(random.pick(ShopperModel.channelCDF))
            actor.intent = intents[ShopperModel.intentLevel(normal: random.normal())]
            actor.ip = 10 << 24 | UInt32(truncatingIfNeeded: bits & 0x00ff_fffe) | 1
            actors.append(actor)
            initial.append(.init(time: nextArrival(after: 0), tie: UInt64(user), payload: UInt32(user)))
        }
        setUpIncidents(&initial)
        heap.build(initial)
    }

    /// Appends the next line (with its trailing newline) to `buffer`; false when the stream has
    /// ended (span over or `config.events` lines written), in which case nothing is appended.
    public mutating func next(into buffer: inout [UInt8]) -> Bool {
        while eventsEmitted < config.events {
            let mainTime = heap.topTime
            if !delayed.isEmpty && (delayed.topTime <= mainTime || mainTime >= endMillis) {
                emit(delayed.pop().payload, into: &buffer)
                return true
            }
            if mainTime >= endMillis { return false }
            guard var record = step() else { continue }
            if isTrackingBroken(record) { continue }
            record.eventNumber = nextEventNumber
            nextEventNumber += 1
            if config.disorder > 0 && disorderRandom.uniform() < config.disorder {
                let delay = disorderRandom.uniform() * Double(max(0, config.disorderMaxMillis))
                delayed.push(.init(time: record.time + delay, tie: delayedCount, payload: record))
                delayedCount += 1
                continue
            }
            emit(record, into: &buffer)
            return true
        }
        return false
    }

    /// Ground truth of the configured incidents (complete once `next` has returned false).
    public var truth: SimulatorTruth {
        var list = entries
        for (index, users) in dropUsers.enumerated() where !users.isEmpty {
            var seen = Set<Int32>()
            list[index].users = users.filter { seen.insert($0).inserted }.map { "u-\($0)" }
        }
        return SimulatorTruth(
            horizonSeconds: config.horizonSeconds, start: config.start,
            end: config.start + max(0, config.duration), incidents: list)
    }

    private mutating func emit(_ record: SimEventRecord, into buffer: inout [UInt8]) {
        SimJSONWriter.write(record, startMillis: config.start, into: &buffer)
        eventsEmitted += 1
        if record.user >= config.users {
            entries[Int(actors[record.user].incident)].affectedEvents += 1
        }
    }

    /// Advances the earliest actor by one jump; nil when the jump emits nothing (a session left).
    private mutating func step() -> SimEventRecord? {
        let top = heap.top
        let actor = Int(top.payload)
        switch actors[actor].kind {
        case .shopper, .sharedAccount: return stepShopper(actor, at: top.time)
        case .bot: return stepBot(actor, at: top.time)
        case .cardTester: return stepCardTester(actor, at: top.time)
        }
    }

    /// Start of the next session at or after `time`: a Poisson process with the diurnal
    /// intensity, sampled by thinning candidates drawn at the peak rate.
    mutating func nextArrival(after time: Double) -> Double {
        guard arrivalCandidateRate > 0 else { return .infinity }
        var t = time
        while true {
            t += random.exponential(rate: arrivalCandidateRate)
            if t >= endMillis { return t }
            let intensity = ShopperModel.traffic(atEpochMillis: config.start + Int64(t))
            if random.uniform() * ShopperModel.trafficPeak < intensity { return t }
        }
    }

    mutating func allocateSession() -> Int {
        if let slot = freeSessions.popLast() { return Int(slot) }
        sessions.append(SimSession())
        return sessions.count - 1
    }

    mutating func newSessionNumber() -> Int {
        defer { nextSessionNumber += 1 }
        return nextSessionNumber
    }
}
