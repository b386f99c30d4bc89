/// The online conversion model inside the engine: features, prediction, delayed labels, learning
/// and live quality, following the progressive-validation protocol (docs/model.md).
///
/// The engine calls, per accepted event: ``advance(watermark:)`` (negatives whose horizon has
/// closed), ``purchase(user:at:)`` for purchases (positives), then — after the event has been
/// added to the user's state — ``score(_:context:user:)`` for every other event. Learning reads
/// only vectors frozen at prediction time, and only once their label has been resolved.
public struct ConversionModel: Sendable {
    public let config: ModelConfig
    public let features: FeatureExtractor
    public internal(set) var learner: OnlineLogistic
    public private(set) var pending: PendingStore
    public private(set) var quality: ProgressiveQuality
    public private(set) var stats = ModelStats()
    /// Purchases per event by category, a feature (``CategoryRates``).
    public private(set) var rates: CategoryRates
    let horizonMicros: Int64
    /// Funnel step index for the live stage: [visit, view, cart, checkout, purchase].
    let stageSteps: InlineArray<5, UInt8>
    /// Event time of the first prediction, where the fake negatives' cold-start ramp begins.
    var coldStartOrigin: Int64?
    /// Set once the ramp has run its course (or a trained model was loaded).
    var warmedUp: Bool?
    private var learnScratch = FeatureVector()
    private var seqScratch: [Int64] = []

    public init(config: ModelConfig, windowSeconds: [Int], funnel: FunnelSpec) {
        self.config = config
        features = FeatureExtractor(hashBits: config.hashBits, windowSeconds: windowSeconds,
                                    horizonSeconds: config.horizonSeconds, excluding: config.excludedTemplates)
        learner = OnlineLogistic(config: config)
        // The category lift is a log rate ratio: under a multiplicative model its coefficient is 1,
        // so the learner starts there (like a GLM offset) and learns the correction, instead of
        // earning the weight from labels half an hour late (docs/model.md, "Category purchase rates").
        learner.seed(slot: features.slot(of: .categoryLift), weight: 1)
        rates = CategoryRates(halfLifeSeconds: config.categoryHalfLifeSeconds)
        pending = PendingStore(capacity: config.pendingCapacity)
        quality = ProgressiveQuality(threshold: config.threshold, window: config.qualityWindow,
                                     stepNames: funnel.steps.map(\.name))
        horizonMicros = Int64(config.horizonSeconds) * 1_000_000
        func step(_ type: EventType, fallback: Int) -> UInt8 {
            UInt8(funnel.steps.firstIndex { $0.typeSet.contains(type) && !$0.types.contains("any") } ?? fallback)
        }
        let view = step(.view, fallback: 0)
        let cart = step(.cart, fallback: Int(view))
        let checkout = step(.checkout, fallback: Int(cart))
        stageSteps = [0, view, cart, checkout, step(.purchase, fallback: Int(checkout))]
        seqScratch.reserveCapacity(64)
    }

    /// Model version reported with each score: the number of examples learned so far.
    public var version: UInt64 { learner.updates }

    // MARK: - Protocol steps

    /// Step 1: every pending prediction with t + H < watermark is resolved (negative unless a
    /// purchase already marked it) and learned now.
    public mutating func advance(watermark: Int64) {
        while let e = pending.oldest, e.time + horizonMicros < watermark {
            retireOldest(e)
        }
    }

    /// Step 2: a purchase at `ts` resolves the user's pending predictions with t < ts ≤ t + H.
    public mutating func purchase(user: UInt64, category: UInt64, at ts: Int64) {
        rates.observe(key: CategoryRates.key(ofCategory: category), purchase: true, time: ts)
        pending.collect(of: user, into: &seqScratch)
        for seq in seqScratch {
            let e = pending.entry(seq)
            guard !e.isPositive, !e.isHandedOver, e.time < ts, ts <= e.time + horizonMicros else { continue }
            pending.setFlags(seq, PendingStore.positive)
            quality.record(score: e.score, label: true, step: e.step)
            stats.resolvedPositive += 1
            if config.delay != .horizon {
                pending.frozen(seq, into: &learnScratch)
                learner.learn(learnScratch, label: true)
                pending.setFlags(seq, PendingStore.learned)
                stats.learned += 1
            }
        }
    }

    /// Step 4: features from the updated user state, prediction, freezing into the pending store.
    public mutating func score(_ event: Event, context: EventContext, user: borrowing UserRecord) -> ModelScore {
        // A local constant: a stored vector borrowed while `self` is mutated is copied at every
        // use, and a local `var` once more per score than a constant (648 bytes a copy).
        rates.observe(key: CategoryRates.key(ofCategory: event.categoryKey), purchase: false, time: event.timestamp)
        let v = features.extract(event, context: context, user: user, rates: rates)
        var prediction = learner.explain(v)
        let raw = prediction.probability
        if config.delay == .fakeNegative {
            let b = min(prediction.probability, 0.5)
            prediction.probability = b / (1 - b)
        }
        let step = stage(user)
        if pending.count >= pending.capacity {
            // Overflow rule: the oldest prediction is dropped unlearned and never enters the metrics
            // (labelling it negative early could teach a wrong label).
            if pending.oldest?.isHandedOver != true { stats.overflowDropped += 1 }
            pending.popOldest()
        }
        let seq = pending.next
        pending.push(user: event.userKey, time: event.timestamp, score: prediction.probability, step: step,
                     features: v)
        switch config.delay {
        case .fakeNegative:
            // Label-free: every prediction gets this update whatever its outcome.
            learner.learn(v, label: false, probability: raw)
            pending.setFlags(seq, PendingStore.learned)
            stats.learned += 1
        case .fakeNegativeWeighted:
            let importance = (1 - raw) * coldStartWeight(at: event.timestamp)
            learner.learn(v, label: false, importance: importance, probability: raw)
            pending.setFlags(seq, PendingStore.learned)
            stats.learned += 1
        case .horizon, .immediate:
            break
        }
        stats.predictions += 1
        return ModelScore(seq: seq, prediction: prediction, version: learner.updates, step: step)
    }

    /// End of a bounded input: the still-pending predictions take their label from the data seen
    /// (no purchase arrived within their horizon, so negative unless already marked) and are learned.
    public mutating func finish() {
        while let e = pending.oldest { retireOldest(e) }
    }

    private mutating func retireOldest(_ e: PendingStore.Entry) {
        if e.isHandedOver {
            // Its user moved to another engine, which resolves and learns it.
            pending.popOldest()
            return
        }
        if !e.isPositive {
            quality.record(score: e.score, label: false, step: e.step)
            stats.resolvedNegative += 1
        }
        if !e.isLearned {
            pending.frozen(e.seq, into: &learnScratch)
            learner.learn(learnScratch, label: e.isPositive)
            stats.learned += 1
        }
        pending.popOldest()
    }

    /// The fake negatives' cold-start ramp: elapsed fraction of the first horizon, then 1.
    ///
    /// A prediction's negative is learned at once but its positive only after the purchase delay,
    /// so a learner started from nothing sees the negatives of its first H alone and undershoots
    /// (Taobao: mean score 0.0034 against a rate of 0.0109 over the first tenth). With purchase
    /// delays spread over (0, H], the positives that can have arrived by an elapsed time e are the
    /// fraction e/H of those due; weighting the negatives by the same fraction keeps the two in step.
    /// A loaded model is already trained and skips the ramp.
    @inline(__always)
    private mutating func coldStartWeight(at time: Int64) -> Double {
        if warmedUp == true { return 1 }
        let origin = coldStartOrigin ?? time
        coldStartOrigin = origin
        let elapsed = Double(time &- origin) / Double(horizonMicros)
        if elapsed >= 1 {
            warmedUp = true
            return 1
        }
        return max(0, elapsed)
    }

    /// The user's live funnel stage: the furthest step reached in the current session.
    @inline(__always)
    func stage(_ user: borrowing UserRecord) -> Int {
        Int(stageSteps[min(Int(user.sessionStage), 4)])
    }

    // MARK: - Partition handover

    /// The pending predictions of `users`, detached here (see ``PendingStore/handOver(user:)``).
    mutating func handOver(users: [UInt64]) -> [PendingStore.Handed] {
        var out: [PendingStore.Handed] = []
        for user in users { out.append(contentsOf: pending.handOver(user: user)) }
        return out.sorted { $0.time < $1.time }
    }

    /// Takes over predictions another engine made; they resolve and are learned here. A full
    /// store makes room as for a new prediction (the oldest unlearned one is an overflow drop).
    mutating func takeOver(_ entries: [PendingStore.Handed]) {
        for e in entries {
            while pending.count >= pending.capacity, let oldest = pending.oldest {
                if !oldest.isHandedOver { stats.overflowDropped += 1 }
                pending.popOldest()
            }
            pending.push(handed: e)
        }
    }

    // MARK: - Persistence

    /// The learned state in the versioned binary format of docs/model-format.md.
    public func save() -> [UInt8] { ModelCodec.encode(learner, rates: rates, fingerprint: features.fingerprint) }

    /// Replaces the learned state with a saved one; refuses a model of another feature layout.
    public mutating func load(_ bytes: [UInt8]) throws(ModelError) {
        (learner, rates) = try ModelCodec.decode(bytes, fingerprint: features.fingerprint, config: config)
        warmedUp = true
    }
}

/// Counters of the model's label bookkeeping.
public struct ModelStats: Sendable, Equatable {
    public var predictions = 0
    public var resolvedPositive = 0
    public var resolvedNegative = 0
    public var learned = 0
    /// Predictions dropped unlearned because the pending store was full.
    public var overflowDropped = 0
    public init() {}
}

/// One live score: what the sink writes to scores.jsonl.
public struct ModelScore: Sendable {
    /// Prediction number (0-based, stream order).
    public var seq: Int64
    public var prediction: Prediction
    public var version: UInt64
    /// Index into the first funnel's steps.
    public var step: Int
    public var probability: Double { prediction.probability }
}

extension ConversionModel: Codable {}

extension ModelStats: Codable {}
