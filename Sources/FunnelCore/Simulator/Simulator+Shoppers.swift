/// Ordinary shoppers (and shared-device accounts, which shop the same way): opening a session,
/// drawing its jumps from ``FunnelChain`` and turning each jump into an event.
extension Simulator {
    mutating func stepShopper(_ user: Int, at time: Double) -> SimEventRecord {
        let slot = actors[user].session
        if slot < 0 {
            let s = openSession(user, at: time)
            let record = landing(user, session: s, at: time)
            scheduleJump(user, session: s, after: time)
            return record
        }
        let s = Int(slot)
        let record: SimEventRecord
        if !sessions[s].viewed {
            if sessions[s].advanceNext {
                sessions[s].viewed = true
                record = event(.view, user: user, session: s, item: Int(sessions[s].targetItem), at: time)
            } else {
                let type: EventType = random.uniform() < 0.5 ? .search : .page
                record = event(type, user: user, session: s, item: -1, at: time)
            }
        } else if sessions[s].advanceNext {
            sessions[s].stage += 1
            let stage = sessions[s].stage
            let type: EventType = stage == 1 ? .cart : stage == 2 ? .checkout : .purchase
            record = event(type, user: user, session: s, item: Int(sessions[s].targetItem), at: time)
            if stage == 3 {
                let purchases = actors[user].priorPurchases
                actors[user].priorPurchases = purchases == .max ? purchases : purchases + 1
                closeSession(user, session: s, endedAt: time)
                return record
            }
        } else {
            record = stay(user, session: s, at: time)
        }
        scheduleJump(user, session: s, after: time)
        return record
    }

    /// Draws everything fixed for a session: device, channel, focus category and item, the
    /// chain's rates (from observables known by its first product view) and any conversion drop
    /// that applies.
    private mutating func openSession(_ user: Int, at time: Double) -> Int {
        let actor = actors[user]
        var device = Int(actor.primaryDevice)
        if actor.kind == .shopper && random.uniform() < 0.15 { device = random.pick(ShopperModel.deviceCDF) }
        let channel =
            random.uniform() < 0.6 ? Int(actor.preferredChannel) : random.pick(ShopperModel.channelCDF)
        let category = catalog.randomCategory(&random)
        let item = catalog.randomItem(in: category, &random)
        let hour = ShopperModel.hour(ofEpochMillis: config.start + Int64(time))
        var drop = SIMD4<Double>.zero
        for rule in drops where rule.matches(time: time, device: device, channel: channel) {
            drop[rule.stage] = 1 - (1 - drop[rule.stage]) * (1 - rule.fraction)
            entries[rule.incident].affectedSessions += 1
            dropUsers[rule.incident].append(Int32(truncatingIfNeeded: user))
        }
        let rates = LandingKey(
            device: UInt8(device), channel: UInt8(channel), hour: UInt8(ShopperModel.representativeHour[hour]),
            priorSessions: UInt8(min(Int(actor.priorSessions), 10)),
            priorPurchases: UInt8(min(Int(actor.priorPurchases), 3)), intent: actor.intent, drop: drop)
        let s = allocateSession()
        var session = SimSession()
        session.id = newSessionNumber()
        session.chain = FunnelChain(
            multipliers: rates.multipliers(scale: config.purchaseRateScale, category: category, catalog: catalog),
            drop: drop, horizonMillis: horizonMillis)
        if channel == 0 || channel == 4 {
            session.viewed = false
            session.landingProbability = landingProbability(rates)
        }
        session.device = UInt8(device)
        session.channel = UInt8(channel)
        session.ip = actor.ip
        if actor.kind == .sharedAccount {
            session.userAgent = 980 + Int32(actor.incident)
            entries[Int(actor.incident)].affectedSessions += 1
        } else {
            let bits = StableHash.combine(UInt64(user), UInt64(device))
            let offset = Int(bits % UInt64(ShopperModel.userAgentCount[device]))
            session.userAgent = Int32(ShopperModel.userAgentBase[device] + offset)
        }
        session.focusCategory = Int32(category)
        session.targetItem = Int32(item)
        let q = random.uniform()
        session.quantity = q < 0.8 ? 1 : q < 0.95 ? 2 : 3
        sessions[s] = session
        actors[user].session = Int32(s)
        let prior = actors[user].priorSessions
        actors[user].priorSessions = prior == .max ? prior : prior + 1
        return s
    }

    /// The session's first event: search engines and direct visits land on a page or a search,
    /// ads, mails and social posts land on the product. Either way the first product event of a
    /// session is its target.
    private mutating func landing(_ user: Int, session s: Int, at time: Double) -> SimEventRecord {
        switch sessions[s].channel {
        case 0:
            let type: EventType = random.uniform() < 0.5 ? .search : .page
            return event(type, user: user, session: s, item: -1, at: time)
        case 4:
            return event(.page, user: user, session: s, item: -1, at: time)
        default:
            return event(.view, user: user, session: s, item: Int(sessions[s].targetItem), at: time)
        }
    }

    /// An event that keeps the stage: browsing, a second cart add, a removal, a checkout page.
    private mutating func stay(_ user: Int, session s: Int, at time: Double) -> SimEventRecord {
        let u = random.uniform()
        switch sessions[s].stage {
        case 0:
            if u < 0.62 { return event(.view, user: user, session: s, item: browseItem(s), at: time) }
            if u < 0.74 { return event(.page, user: user, session: s, item: -1, at: time) }
            if u < 0.92 { return event(.search, user: user, session: s, item: -1, at: time) }
            return event(.fav, user: user, session: s, item: browseItem(s), at: time)
        case 1:
            if u < 0.45 { return event(.view, user: user, session: s, item: browseItem(s), at: time) }
            if u < 0.60 {
                let item = catalog.randomItem(in: Int(sessions[s].focusCategory), &random)
                return event(.cart, user: user, session: s, item: item, at: time)
            }
            if u < 0.70 {
                let item = catalog.randomItem(in: Int(sessions[s].focusCategory), &random)
                return event(.removeFromCart, user: user, session: s, item: item, at: time)
            }
            if u < 0.78 { return event(.fav, user: user, session: s, item: browseItem(s), at: time) }
            return event(.page, user: user, session: s, item: -1, at: time)
        default:
            let type: EventType = u < 0.45 ? .checkout : .page
            let item = type == .checkout ? Int(sessions[s].targetItem) : -1
            return event(type, user: user, session: s, item: item, at: time)
        }
    }

    /// A browsed product: mostly the session's target, else its category, sometimes anything.
    private mutating func browseItem(_ s: Int) -> Int {
        let u = random.uniform()
        if u < 0.55 { return Int(sessions[s].targetItem) }
        if u < 0.90 { return catalog.randomItem(in: Int(sessions[s].focusCategory), &random) }
        return catalog.randomItem(in: catalog.randomCategory(&random), &random)
    }

    /// Draws the holding time and the kind of the next jump. A leave emits nothing, so the
    /// session is closed right away at the leave time instead of being scheduled.
    private mutating func scheduleJump(_ user: Int, session s: Int, after time: Double) {
        let rate: Double
        let advance: Double
        let end: Double
        if sessions[s].viewed {
            let chain = sessions[s].chain
            let stage = sessions[s].stage
            rate = chain.totalRate[stage]
            advance = chain.advanceProbability[stage]
            end = chain.endProbability[stage]
        } else {
            rate = FunnelChain.landingRate
            advance = FunnelChain.landingView
            end = FunnelChain.landingView + FunnelChain.landingLeave
        }
        let next = time + random.exponential(rate: rate)
        let u = random.uniform()
        if u < advance {
            sessions[s].advanceNext = true
        } else if u < end {
            closeSession(user, session: s, endedAt: next)
            return
        } else {
            sessions[s].advanceNext = false
        }
        heap.retimeTop(next)
    }

    /// P(purchase within H) from the landing state for sessions whose rates differ from each
    /// other only by category: the landing chain's absorption averaged over the category prior.
    /// One absorption per category, so kept per key: there are at most 1,408 keys (4 devices, 2
    /// landing channels, 4 hour factors, 11 × 4 loyalty states) per intent level and drop vector.
    mutating func landingProbability(_ key: LandingKey) -> Double {
        if let known = landingProbabilities[key] { return known }
        var sum = 0.0
        var previous = 0.0
        for category in 0..<catalog.categoryCount {
            let weight = catalog.categoryCDF[category] - previous
            previous = catalog.categoryCDF[category]
            let multipliers = key.multipliers(scale: config.purchaseRateScale, category: category, catalog: catalog)
            let (advance, leave) = FunnelChain.rates(multipliers: multipliers, drop: key.drop)
            sum += weight * FunnelChain.landingAbsorption(advance: advance, leave: leave, horizon: horizonMillis)
        }
        landingProbabilities[key] = sum
        return sum
    }

    /// Frees the slot and schedules the next session more than H after the end, so no later
    /// session can place a purchase inside the horizon of this one's events.
    private mutating func closeSession(_ user: Int, session s: Int, endedAt time: Double) {
        freeSessions.append(Int32(s))
        actors[user].session = -1
        if actors[user].kind == .sharedAccount {
            heap.pop()
        } else {
            heap.retimeTop(nextArrival(after: time + horizonMillis + 1000))
        }
    }

    /// A shopper event; product events carry item and category, priced types price and quantity,
    /// and every non-purchase event the exact purchase probability of the stage it leaves behind.
    private func event(_ type: EventType, user: Int, session s: Int, item: Int, at time: Double) -> SimEventRecord {
        let session = sessions[s]
        var record = SimEventRecord(
            time: time, user: user, session: session.id, type: type, device: session.device,
            channel: session.channel, userAgent: session.userAgent, ip: session.ip,
            probability: type == .purchase
                ? -1 : session.viewed ? session.chain.purchaseWithinHorizon[session.stage] : session.landingProbability)
        if item >= 0 {
            record.item = Int32(item)
            record.category = Int32(catalog.category(ofItem: item))
            switch type {
            case .view, .cart, .checkout, .purchase:
                record.priceCents = catalog.priceCents[item]
                record.quantity = type == .view ? 1 : session.quantity
            default:
                break
            }
        }
        return record
    }
}

/// What sets a session's chain apart, category aside: the key of the landing probability.
struct LandingKey: Hashable, Sendable {
    var device: UInt8
    var channel: UInt8
    /// ``ShopperModel/representativeHour`` of the session's starting hour.
    var hour: UInt8
    /// Clamped as ``ShopperModel/multipliers`` clamps them (10 and 3).
    var priorSessions: UInt8
    var priorPurchases: UInt8
    var intent: Float
    var drop: SIMD4<Double>

    func multipliers(scale: Double, category: Int, catalog: SimCatalog) -> SIMD4<Double> {
        ShopperModel.multipliers(
            scale: scale, device: Int(device), channel: Int(channel), hour: Int(hour),
            priorSessions: Int(priorSessions), priorPurchases: Int(priorPurchases),
            categoryFactor: catalog.categoryFactor[category], price: catalog.categoryPrice[category],
            intent: Double(intent))
    }
}
