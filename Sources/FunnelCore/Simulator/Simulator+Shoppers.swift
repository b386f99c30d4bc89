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
        if sessions[s].advanceNext {
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
    /// chain's rates (from observables known now) and any conversion drop that applies.
    private mutating func openSession(_ user: Int, at time: Double) -> Int {
        let actor = actors[user]
        var device = Int(actor.primaryDevice)
        if actor.kind == .shopper && random.uniform() < 0.15 { device = random.pick(ShopperModel.deviceCDF) }
        let channel =
            random.uniform() < 0.6 ? Int(actor.preferredChannel) : random.pick(ShopperModel.channelCDF)
        let category = catalog.randomCategory(&random)
        let item = catalog.randomItem(in: category, &random)
        let hour = ShopperModel.hour(ofEpochMillis: config.start + Int64(time))
        let multipliers = ShopperModel.multipliers(
            scale: config.purchaseRateScale, device: device, channel: channel, hour: hour,
            priorSessions: Int(actor.priorSessions), priorPurchases: Int(actor.priorPurchases),
            categoryFactor: catalog.categoryFactor[category], price: catalog.price(ofItem: item),
            intent: Double(actor.intent))
        var drop = SIMD4<Double>.zero
        for rule in drops where rule.matches(time: time, device: device, channel: channel) {
            drop[rule.stage] = 1 - (1 - drop[rule.stage]) * (1 - rule.fraction)
            entries[rule.incident].affectedSessions += 1
            dropUsers[rule.incident].append(Int32(truncatingIfNeeded: user))
        }
        let s = allocateSession()
        var session = SimSession()
        session.id = newSessionNumber()
        session.chain = FunnelChain(multipliers: multipliers, drop: drop, horizonMillis: horizonMillis)
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
    /// ads, mails and social posts land on the product.
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
        let chain = sessions[s].chain
        let stage = sessions[s].stage
        let next = time + random.exponential(rate: chain.totalRate[stage])
        let u = random.uniform()
        if u < chain.advanceProbability[stage] {
            sessions[s].advanceNext = true
        } else if u < chain.endProbability[stage] {
            closeSession(user, session: s, endedAt: next)
            return
        } else {
            sessions[s].advanceNext = false
        }
        heap.retimeTop(next)
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
            probability: type == .purchase ? -1 : session.chain.purchaseWithinHorizon[session.stage])
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
