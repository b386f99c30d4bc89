extension Engine {
    /// Applies the event to its user's record (sessions, sliding windows, cart, items).
    mutating func updateUser(_ event: Event, source: Int32) -> EventContext {
        let (slot, isNew) = users.findOrInsert(event.userKey)
        let ts = event.timestamp
        let seconds = UInt32(clamping: ts / 1_000_000)
        let gap = config.windowSeconds.count
        let buckets = bucketSeconds
        let sessionGap = sessionGapMicros
        var context = EventContext(userSlot: slot, isNewUser: isNew, isNewSession: isNew, sincePrevious: 0,
                                   itemViewedBefore: false, itemCartedBefore: false)
        users[slot].update { u in
            u.source = source
            if isNew {
                u.firstSeen = seconds
                u.sessionStart = seconds
                u.sessions = 1
                u.lastSeen = ts
                u.sessionTag = UInt32(truncatingIfNeeded: event.sessionKey)
                u.startSessionEntry()
            } else {
                context.sincePrevious = max(0, ts - u.lastSeen)
                let tag = UInt32(truncatingIfNeeded: event.sessionKey)
                let newSession =
                    event.sessionKey != 0 ? (tag != u.sessionTag) : (ts - u.lastSeen > sessionGap)
                if newSession && ts >= u.lastSeen {
                    u.sessions &+= u.sessions == .max ? 0 : 1
                    u.sessionStart = seconds
                    u.sessionDepth = 0
                    u.sessionTag = tag
                    u.startSessionEntry()
                    context.isNewSession = true
                }
            }
            u.sessionDepth &+= u.sessionDepth == .max ? 0 : 1
            context.itemViewedBefore = u.hasViewed(event.itemKey)
            context.itemCartedBefore = u.hasCarted(event.itemKey)

            // Sliding windows: rotate each window's quarter buckets up to this event's time.
            let lastSeconds = UInt32(clamping: u.lastSeen / 1_000_000)
            let group = event.type.windowGroup
            for w in 0..<gap {
                let width = buckets[w]
                let newEpoch = seconds / width
                let lastEpoch = isNew ? newEpoch : lastSeconds / width
                if newEpoch > lastEpoch {
                    let steps = min(newEpoch - lastEpoch, 4)
                    for k in 1...steps {
                        let b = Int((lastEpoch &+ k) & 3)
                        for g in 0..<6 { u.counts[w * 24 + b * 6 + g] = 0 }
                    }
                }
                if newEpoch &+ 3 >= lastEpoch {
                    let i = w * 24 + Int(newEpoch & 3) * 6 + group
                    if u.counts[i] < 255 { u.counts[i] += 1 }
                }
            }
            if ts > u.lastSeen { u.lastSeen = ts }

            switch event.type {
            case .view:
                if event.itemKey != 0 { u.viewedItems |= UserRecord.bloomBits(event.itemKey) }
            case .cart:
                if event.itemKey != 0 { u.cartedItems |= UserRecord.bloomBits(event.itemKey) }
                let q = UInt16(clamping: max(Int(event.quantity), 1))
                u.cartItems = u.cartItems &+ min(q, .max - u.cartItems)
                // Saturating: a huge (finite) price must not turn the cart value, and with it the
                // model's features and scores, into ∞ or NaN.
                if event.price.isFinite {
                    let value = Double(u.cartValue) + event.price * Double(max(event.quantity, 1))
                    u.cartValue = Float(min(value, Double(Float.greatestFiniteMagnitude)))
                }
            case .removeFromCart:
                let q = UInt16(clamping: max(Int(event.quantity), 1))
                u.cartItems -= min(q, u.cartItems)
                if event.price.isFinite {
                    let value = Double(u.cartValue) - event.price * Double(max(event.quantity, 1))
                    u.cartValue = Float(min(max(0, value), Double(Float.greatestFiniteMagnitude)))
                }
                if u.cartItems == 0 { u.cartValue = 0 }
            case .purchase:
                u.purchases &+= u.purchases == .max ? 0 : 1
                u.cartItems = 0
                u.cartValue = 0
            default:
                break
            }
            u.sessionStage = max(u.sessionStage, FeatureExtractor.stage(of: event.type))
            if u.sessionCategory == 0 && event.categoryKey != 0 {
                u.sessionCategory = UserRecord.categoryFingerprint(event.categoryKey)
            }
            if u.sessionPrice == 0 && event.price > 0 && event.price.isFinite {
                u.sessionPrice = UInt8(1 + FeatureExtractor.priceBin(event.price))
            }
            if event.itemKey != 0 || event.categoryKey != 0 {
                for i in stride(from: 7, to: 0, by: -1) { u.recent[i] = u.recent[i - 1] }
                let itemFP = (event.itemKey >> 40) & 0xFF_FFFF
                let catFP = UInt64(UserRecord.categoryFingerprint(event.categoryKey))
                u.recent[0] = itemFP << 40 | (catFP & 0xFFFF) << 24 | (UInt64(seconds) & 0xFF_FFFF)
                if u.recent[0] == 0 { u.recent[0] = 1 }
            }
        }
        return context
    }
}
