/// Distinct users per entity (an ip, or an ip + user agent device) over a sliding window of
/// event time, counted exactly up to the rule's threshold.
///
/// A user's presence is recorded on the first event of each session and on the first event in
/// each refresh period (window / 4) after that, not on every event: a user seen on the entity
/// within the window has a recorded presence less than one period older than its latest event,
/// so members expire after window + period (the effective window is W to 5W/4), and a user who
/// changes ip mid-session shows up on the new one within a period. That keeps the table work
/// off most events of ordinary sessions.
///
/// Members are words of user fingerprint (32 bits) | last seen (seconds, 32 bits). The first
/// member and the member count live inline in the entity's table slot, the other `limit − 1`
/// in a flat overflow array: an ip or device with one user (nearly all of them) costs one
/// table lookup and nothing else. An event rescans its entity's live members, drops expired
/// ones, refreshes or adds its user and returns how many remain. Memory is
/// `capacity × (32 + 8 × (limit − 1))` bytes whatever the input.
struct SharedEntityTracker: Sendable {
    /// Value words of a slot: the first member, the member count.
    private static let headWord = 0
    private static let countWord = 1

    private var table: EntityTable
    private var overflow: [UInt64]
    /// Distinct users that fire the rule; also the most members kept per entity.
    let limit: Int
    let windowSeconds: UInt32
    /// Refresh period (µs) and the member expiry (window + period, seconds).
    let refreshMicros: Int64
    let expirySeconds: UInt32

    init(rule: EntityAlertConfig.SharedEntity, enabled: Bool) {
        let on = enabled && rule.enabled
        table = EntityTable(capacity: on ? rule.capacity : 0, valueWords: 2)
        limit = max(1, min(rule.users, EntityAlertConfig.SharedEntity.maxUsers))
        windowSeconds = UInt32(clamping: max(1, rule.windowSeconds))
        refreshMicros = max(1, Int64(windowSeconds) * 1_000_000 / 4)
        expirySeconds = windowSeconds &+ UInt32(clamping: (refreshMicros + 999_999) / 1_000_000)
        overflow = Array(repeating: 0, count: table.capacity * (limit - 1))
    }

    var count: Int { table.count }
    var capacity: Int { table.capacity }
    var bytes: Int { table.bytes + overflow.count * MemoryLayout<UInt64>.stride }

    @inline(__always)
    private func member(_ slot: Int, _ i: Int) -> UInt64 {
        i == 0 ? table.value(slot, Self.headWord) : overflow[slot &* (limit &- 1) &+ i &- 1]
    }

    @inline(__always)
    private mutating func setMember(_ slot: Int, _ i: Int, _ word: UInt64) {
        if i == 0 {
            table.setValue(slot, Self.headWord, word)
        } else {
            overflow[slot &* (limit &- 1) &+ i &- 1] = word
        }
    }

    /// Whether this event must record its user's presence: the session's first event, or the
    /// first one in a new refresh period.
    @inline(__always)
    func needsRefresh(now: Int64, context: EventContext) -> Bool {
        context.isNewSession || context.sincePrevious >= refreshMicros
            || now / refreshMicros != (now &- context.sincePrevious) / refreshMicros
    }

    /// Records that `user` was seen on `entity` at `now` (µs); returns the distinct live users
    /// of the entity within the window (at most `limit`).
    @inline(__always)
    mutating func observe(entity: UInt64, user: UInt64, now: Int64) -> Int {
        let (slot, isNew) = table.findOrInsert(entity, now: now)
        let seconds = UInt32(clamping: now / 1_000_000)
        let fingerprint = UInt32(truncatingIfNeeded: user >> 32) | 1
        let word = UInt64(fingerprint) << 32 | UInt64(seconds)
        if isNew {
            table.setValue(slot, Self.headWord, word)
            table.setValue(slot, Self.countWord, 1)
            return 1
        }
        var n = Int(truncatingIfNeeded: table.value(slot, Self.countWord))
        var found = false
        var i = 0
        while i < n {
            let m = member(slot, i)
            let seen = UInt32(truncatingIfNeeded: m)
            if UInt32(truncatingIfNeeded: m >> 32) == fingerprint {
                if seconds > seen { setMember(slot, i, word) }
                found = true
            } else if seconds > seen && seconds - seen > expirySeconds {
                // Expired: move the last member here and look at this position again.
                n -= 1
                setMember(slot, i, member(slot, n))
                continue
            }
            i += 1
        }
        if !found {
            if n < limit {
                setMember(slot, n, word)
                n += 1
            } else {
                // All `limit` members are live (the rule has fired): keep the newest ones.
                var oldest = 0
                for k in 1..<limit where UInt32(truncatingIfNeeded: member(slot, k))
                    < UInt32(truncatingIfNeeded: member(slot, oldest))
                {
                    oldest = k
                }
                setMember(slot, oldest, word)
            }
        }
        table.setValue(slot, Self.countWord, UInt64(n))
        return n
    }

    @inline(__always)
    mutating func sweep(now: Int64) {
        table.sweep(now: now, maxAge: Int64(expirySeconds) * 1_000_000)
    }
}

extension SharedEntityTracker: Codable {}
