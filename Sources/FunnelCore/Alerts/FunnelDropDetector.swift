/// Statistically gated funnel alerts, judged each time a funnel window closes (docs/alerts.md).
///
/// For every funnel, every step transition and every breakdown value (plus all traffic) the
/// detector keeps the last `long_window_seconds` of per-window counts and an exponentially
/// weighted baseline. The baseline is fed only with windows that have left the long window, and is
/// frozen while the step is firing, so an incident never becomes its own baseline.
///
/// The rate judged is the step's *flow* conversion in the window: attempts that went on from
/// step s to s+1, over attempts that entered step s. It reacts at once (resolved conversion waits
/// for the conversion window to expire) and, in steady state, equals the step's conversion.
///
/// - `funnel_drop` fires when, over the long window, the volume guard holds, the observed rate is
///   at least `min_relative_drop` below the baseline and `(baseline − rate) / se ≥ z`, with
///   `se² = baseline / volume + τ²` (count-ratio sampling variance plus the step's extra variance,
///   learned online from clipped deviations); and the short window confirms the drop is still
///   happening (burn-rate style). It resolves (hysteresis) when both windows are back within
///   `resolve_relative_drop` of the baseline, after which `cooldown_seconds` must pass before the
///   same alert can fire again. A breakdown value alerts only when it drops on its own; all-traffic
///   alerts carry the breakdown values that account for most of the lost conversions.
/// - `volume_drop` compares a step's attempts with its baseline share of visits (Poisson test):
///   views vanishing while visits continue is broken tracking.
/// - `stream_stalled` fires when visits in the short window fall to `stall_fraction` of what the
///   recent traffic (one-hour EWMA) predicts.
public struct FunnelDropDetector: Sendable {
    public let config: FunnelAlertConfig
    let windowSeconds: Int
    let shortWindows: Int
    let longWindows: Int
    /// Per-window decay of the baseline and of the visit-rate EWMA.
    let decay: Double
    let visitDecay: Double
    private var funnels: [FunnelState] = []
    /// Alerts currently firing (all funnels).
    public private(set) var firing = 0

    public init(config: FunnelAlertConfig, funnelWindowSeconds: Int) {
        self.config = config
        windowSeconds = max(funnelWindowSeconds, 1)
        shortWindows = max(1, config.shortWindowSeconds / windowSeconds)
        longWindows = max(shortWindows, config.longWindowSeconds / windowSeconds)
        decay = Self.halfLifeDecay(windowSeconds: windowSeconds, halfLife: config.baselineHalfLifeSeconds)
        visitDecay = Self.halfLifeDecay(windowSeconds: windowSeconds, halfLife: 3600)
    }

    static func halfLifeDecay(windowSeconds: Int, halfLife: Int) -> Double {
        // 0.5^(window / half-life)
        MathShim.exp(-0.6931471805599453 * Double(windowSeconds) / Double(max(halfLife, 1)))
    }

    /// Judges a closed funnel window. Partial windows (end of a bounded input) are not judged.
    public mutating func windowClosed(_ snapshot: FunnelSnapshot, emit: (Alert) -> Void) {
        guard config.enabled, !snapshot.partial else { return }
        let f = funnelIndex(snapshot)
        var state = funnels[f]
        funnels[f] = FunnelState(placeholderFor: state)
        state.push(snapshot, detector: self)
        evaluate(&state, time: snapshot.windowEnd, emit: emit)
        funnels[f] = state
    }

    private mutating func funnelIndex(_ snapshot: FunnelSnapshot) -> Int {
        if let i = funnels.firstIndex(where: { $0.name == snapshot.funnel }) { return i }
        funnels.append(FunnelState(name: snapshot.funnel, stepNames: snapshot.stepNames, windows: longWindows))
        return funnels.count - 1
    }

    // MARK: - Judging

    private mutating func evaluate(_ state: inout FunnelState, time: Int64, emit: (Alert) -> Void) {
        guard state.targets[0].filled >= longWindows else { return }
        let steps = state.stepNames.count
        for t in state.targets.indices {
            if t > 0 && !config.breakdowns { break }
            for s in 0..<(steps - 1) {
                judgeDrop(&state, target: t, step: s, time: time, emit: emit)
            }
        }
        if config.volumeEnabled {
            judgeStall(&state, time: time, emit: emit)
            for s in 1..<steps { judgeVolume(&state, step: s, time: time, emit: emit) }
        }
    }

    private mutating func judgeDrop(_ state: inout FunnelState, target t: Int, step s: Int, time: Int64,
                                    emit: (Alert) -> Void) {
        let target = state.targets[t]
        let long = target.sums(step: s, windows: longWindows)
        let short = target.sums(step: s, windows: shortWindows)
        let nL = Double(long.entered)
        let xL = Double(min(long.converted, long.entered))
        let nS = Double(short.entered)
        let xS = Double(min(short.converted, short.entered))
        let baseN = target.baseEntered[s]
        let p0 = baseN > 0 ? target.baseConverted[s] / baseN : 0
        let pL = nL > 0 ? xL / nL : 0
        let pS = nS > 0 ? xS / nS : p0
        let stepName = state.stepNames[s + 1]

        func record(_ state: AlertState, since: Int64) -> Alert {
            var alert = Alert(
                id: Self.alertID(.funnelDrop, funnel: stateName, step: stepName, target: target),
                kind: .funnelDrop, state: state,
                severity: t == 0 && pL <= p0 * 0.5 ? .critical : .warning, time: time, since: since,
                entityType: "funnel_step", entity: Self.entity(funnel: stateName, step: stepName, target: target),
                message: "")
            alert.funnel = stateName
            alert.step = stepName
            alert.dimension = target.dimension
            alert.value = target.value
            alert.observedRate = pL
            alert.observedCount = Int64(xL)
            alert.volume = Int64(nL)
            alert.baselineRate = p0
            let tau2 = target.extraVariance(step: s, baseline: p0)
            let half = config.z * (max(pL, 1 / max(nL, 1)) / max(nL, 1) + tau2).squareRoot()
            alert.intervalLow = max(0, pL - half)
            alert.intervalHigh = min(1, pL + half)
            alert.shortRate = nS > 0 ? pS : nil
            alert.evidence = [
                AlertEvidence("from_step_entered_long", nL), AlertEvidence("converted_long", xL),
                AlertEvidence("from_step_entered_short", nS), AlertEvidence("converted_short", xS),
                AlertEvidence("baseline_attempts", baseN),
                AlertEvidence("extra_sd", target.extraVariance(step: s, baseline: p0).squareRoot()), AlertEvidence("z", config.z),
            ]
            let scope = target.dimension.map { " (\($0)=\(target.value ?? ""))" } ?? ""
            let verb = state == .resolved ? "recovered" : "dropped"
            alert.message = "\(stateName): conversion into \(stepName)\(scope) \(verb): "
                + "\(Self.percent(pL)) over \(config.longWindowSeconds / 60) min (\(Int(xL))/\(Int(nL))) vs baseline \(Self.percent(p0))"
            return alert
        }
        let stateName = state.name

        if let since = target.drop[s].firingSince {
            let floor = p0 * (1 - config.resolveRelativeDrop)
            if pL >= floor && pS >= floor {
                state.targets[t].drop[s].firingSince = nil
                state.targets[t].drop[s].resolvedAt = time
                firing -= 1
                emit(record(.resolved, since: since))
            }
            return
        }
        guard baseN >= Double(config.minBaselineVolume), p0 > 0, p0 < 1, nL >= Double(config.minVolume) else { return }
        // Learn how far the rate scatters beyond binomial noise (windows overlap, the flow ratio
        // mixes cohorts, the traffic mix drifts over the day) before judging it.
        // Squared deviations are clipped at 2.5 standard errors (Huber-style), so a developing
        // incident cannot teach the detector that large drops are ordinary noise.
        let sampling = p0 / nL
        let cap = 6.25 * (sampling + state.targets[t].extraVariance(step: s, baseline: p0))
        state.targets[t].observeExcess(step: s, excess: min((pL - p0) * (pL - p0), cap) - sampling, decay: decay)
        guard nS >= 1 else { return }
        let threshold = p0 * (1 - config.minRelativeDrop)
        guard pL <= threshold, pS <= p0 * (1 - config.minRelativeDrop / 2) else { return }
        let se = (sampling + state.targets[t].extraVariance(step: s, baseline: p0)).squareRoot()
        guard (p0 - pL) / se >= config.z else { return }
        if t > 0 {
            // A breakdown value alerts only when it drops on its own: while all traffic is firing
            // for this step the value is a root cause of that alert, and when the rest of the
            // traffic drops as well the problem is not this value's.
            if state.targets[0].drop[s].firingSince != nil { return }
            let all = state.targets[0]
            let restN = Double(all.sums(step: s, windows: longWindows).entered) - nL
            let restX = Double(min(all.sums(step: s, windows: longWindows).converted, all.sums(step: s, windows: longWindows).entered)) - xL
            let restBase = all.baseEntered[s] - baseN
            if restN >= Double(config.minVolume), restBase > 0 {
                let restP0 = (all.baseConverted[s] - target.baseConverted[s]) / restBase
                if restX / restN < restP0 * (1 - config.minRelativeDrop / 2) { return }
            }
        }
        if target.drop[s].resolvedAt != .min,
            time - target.drop[s].resolvedAt < Int64(config.cooldownSeconds) * 1_000_000
        {
            return
        }
        state.targets[t].drop[s].firingSince = time
        firing += 1
        var alert = record(.firing, since: time)
        if t == 0 { alert.causes = rootCauses(state, step: s, lost: nL * p0 - xL) }
        emit(alert)
    }

    /// Breakdown values ordered by conversions lost against their own baseline.
    private func rootCauses(_ state: FunnelState, step s: Int, lost total: Double) -> [AlertCause] {
        guard config.rootCauses > 0, total > 0 else { return [] }
        var causes: [AlertCause] = []
        for target in state.targets.dropFirst() {
            let long = target.sums(step: s, windows: longWindows)
            guard long.entered > 0, let dimension = target.dimension, let value = target.value else { continue }
            let n = Double(long.entered)
            let x = Double(min(long.converted, long.entered))
            let baseN = target.baseEntered[s]
            let p0 = baseN > 0 ? target.baseConverted[s] / baseN : 0
            let lost = n * p0 - x
            guard lost > 0 else { continue }
            causes.append(AlertCause(dimension: dimension, value: value, volume: long.entered, observedRate: x / n,
                                     baselineRate: p0, lostConversions: lost, share: lost / total))
        }
        causes.sort { $0.lostConversions != $1.lostConversions ? $0.lostConversions > $1.lostConversions
            : ($0.dimension, $0.value) < ($1.dimension, $1.value) }
        return Array(causes.prefix(config.rootCauses))
    }

    private mutating func judgeVolume(_ state: inout FunnelState, step s: Int, time: Int64, emit: (Alert) -> Void) {
        let total = state.targets[0]
        let visitsBase = total.baseEntered[0]
        guard visitsBase >= Double(config.minBaselineVolume), total.baseEntered[s] > 0 else { return }
        let share = total.baseEntered[s] / visitsBase
        let long = Double(total.sums(step: s, windows: longWindows).entered)
        let short = Double(total.sums(step: s, windows: shortWindows).entered)
        let expectedL = share * Double(total.sums(step: 0, windows: longWindows).entered)
        let expectedS = share * Double(total.sums(step: 0, windows: shortWindows).entered)
        let stepName = state.stepNames[s]
        let zL = AlertStatistics.poissonZ(observed: long, expected: expectedL)
        let drop = config.volumeMinRelativeDrop

        func record(_ alertState: AlertState, since: Int64) -> Alert {
            var alert = Alert(
                id: "volume_drop:\(state.name):\(stepName)", kind: .volumeDrop, state: alertState,
                severity: long <= expectedL * 0.1 ? .critical : .warning, time: time, since: since,
                entityType: "funnel_step", entity: "\(state.name)/\(stepName)", message: "")
            alert.funnel = state.name
            alert.step = stepName
            alert.observedCount = Int64(long)
            alert.expectedCount = expectedL
            alert.evidence = [
                AlertEvidence("entered_long", long), AlertEvidence("expected_long", expectedL),
                AlertEvidence("entered_short", short), AlertEvidence("expected_short", expectedS),
                AlertEvidence("z", zL), AlertEvidence("baseline_share_of_visits", share),
            ]
            let verb = alertState == .resolved ? "recovered" : "collapsed"
            alert.message = "\(state.name): \(stepName) volume \(verb): \(Int(long)) in \(config.longWindowSeconds / 60) min "
                + "where visits predict \(Int(expectedL.rounded()))"
            return alert
        }

        if let since = state.targets[0].volume[s].firingSince {
            let floor = 1 - drop / 2
            if long >= expectedL * floor && short >= expectedS * floor {
                state.targets[0].volume[s].firingSince = nil
                state.targets[0].volume[s].resolvedAt = time
                firing -= 1
                emit(record(.resolved, since: since))
            }
            return
        }
        guard expectedL >= Double(config.minVolume), long <= expectedL * (1 - drop), short <= expectedS * (1 - drop),
            zL <= -config.volumeZ
        else { return }
        let resolvedAt = state.targets[0].volume[s].resolvedAt
        if resolvedAt != .min, time - resolvedAt < Int64(config.cooldownSeconds) * 1_000_000 { return }
        state.targets[0].volume[s].firingSince = time
        firing += 1
        emit(record(.firing, since: time))
    }

    private mutating func judgeStall(_ state: inout FunnelState, time: Int64, emit: (Alert) -> Void) {
        let perWindow = state.visitRate
        let expectedS = perWindow * Double(shortWindows)
        let observedS = Double(state.targets[0].sums(step: 0, windows: shortWindows).entered)

        func record(_ alertState: AlertState, since: Int64) -> Alert {
            var alert = Alert(
                id: "stream_stalled:\(state.name)", kind: .streamStalled, state: alertState, severity: .critical,
                time: time, since: since, entityType: "stream", entity: state.name, message: "")
            alert.funnel = state.name
            alert.observedCount = Int64(observedS)
            alert.expectedCount = expectedS
            alert.evidence = [AlertEvidence("visits_short", observedS), AlertEvidence("expected_short", expectedS)]
            alert.message = alertState == .resolved
                ? "\(state.name): traffic is back (\(Int(observedS)) visits in \(config.shortWindowSeconds / 60) min)"
                : "\(state.name): stream stalled: \(Int(observedS)) visits in \(config.shortWindowSeconds / 60) min, "
                    + "\(Int(expectedS.rounded())) expected"
            return alert
        }

        if let since = state.stallSince {
            if observedS >= expectedS * 0.5 {
                state.stallSince = nil
                firing -= 1
                emit(record(.resolved, since: since))
            }
            return
        }
        guard state.visitWindows >= longWindows, expectedS >= Double(config.minVolume),
            observedS <= expectedS * config.stallFraction
        else { return }
        state.stallSince = time
        firing += 1
        emit(record(.firing, since: time))
    }

    // MARK: - Naming

    static func alertID(_ kind: AlertKind, funnel: String, step: String, target: TargetState) -> String {
        var id = "\(kind.rawValue):\(funnel):\(step)"
        if let d = target.dimension { id += ":\(d)=\(target.value ?? "")" }
        return id
    }

    static func entity(funnel: String, step: String, target: TargetState) -> String {
        var e = "\(funnel)/\(step)"
        if let d = target.dimension { e += "/\(d)=\(target.value ?? "")" }
        return e
    }

    static func percent(_ p: Double) -> String {
        let tenths = Int((p * 1000).rounded())
        return "\(tenths / 10).\(tenths % 10)%"
    }
}

// MARK: - State

/// Counts of one target (all traffic or one breakdown value) over the last long window, and its baseline.
struct TargetState: Sendable {
    struct StepAlert: Sendable {
        var firingSince: Int64?
        var resolvedAt: Int64 = .min
    }

    let dimension: String?
    let value: String?
    let steps: Int
    let windows: Int
    /// windows × steps × (entered, converted), circular; `head` is the next slot to write.
    var ring: [Int64]
    var head = 0
    var filled = 0
    var baseEntered: [Double]
    var baseConverted: [Double]
    var drop: [StepAlert]
    var volume: [StepAlert]
    /// Exponentially weighted sum of (rate − baseline)² minus its binomial variance, and its
    /// weight: their ratio estimates the extra-binomial variance τ² of the long-window rate.
    var excessSum: [Double]
    var excessWeight: [Double]
    /// Prior: τ = 5 % of the baseline, worth this many windows.
    static let excessPriorWeight = 30.0
    static let excessPriorRelativeSD = 0.05

    init(dimension: String?, value: String?, steps: Int, windows: Int) {
        self.dimension = dimension
        self.value = value
        self.steps = steps
        self.windows = windows
        ring = Array(repeating: 0, count: windows * steps * 2)
        baseEntered = Array(repeating: 0, count: steps)
        baseConverted = Array(repeating: 0, count: steps)
        drop = Array(repeating: StepAlert(), count: steps)
        volume = Array(repeating: StepAlert(), count: steps)
        excessSum = Array(repeating: 0, count: steps)
        excessWeight = Array(repeating: 0, count: steps)
    }

    mutating func observeExcess(step s: Int, excess: Double, decay: Double) {
        guard drop[s].firingSince == nil, excess.isFinite else { return }
        excessSum[s] = excessSum[s] * decay + excess
        excessWeight[s] = excessWeight[s] * decay + 1
    }

    /// τ² of the step's long-window rate, shrunk towards the prior while little is known.
    func extraVariance(step s: Int, baseline p0: Double) -> Double {
        let prior = Self.excessPriorRelativeSD * p0
        let w = Self.excessPriorWeight
        return max(0, (excessSum[s] + prior * prior * w) / (excessWeight[s] + w))
    }

    /// Adds one window's counts; the window leaving the long window feeds the baseline, except for
    /// steps whose alerts are firing (their baseline is frozen).
    mutating func push(_ counts: [FunnelStepStats]?, decay: Double) {
        let base = head * steps * 2
        for s in 0..<steps {
            let frozen = drop[s].firingSince != nil || volume[s].firingSince != nil
            if !frozen {
                baseEntered[s] *= decay
                baseConverted[s] *= decay
                if filled >= windows {
                    baseEntered[s] += Double(ring[base + s * 2])
                    baseConverted[s] += Double(ring[base + s * 2 + 1])
                }
            }
            ring[base + s * 2] = counts.map { $0[s].entered } ?? 0
            ring[base + s * 2 + 1] = counts.map { $0[s].converted } ?? 0
        }
        head = (head + 1) % windows
        filled = min(filled + 1, windows)
    }

    /// Sums over the newest `n` windows.
    func sums(step s: Int, windows n: Int) -> (entered: Int64, converted: Int64) {
        var entered: Int64 = 0
        var converted: Int64 = 0
        let count = min(n, filled)
        var w = head
        for _ in 0..<count {
            w = w == 0 ? windows - 1 : w - 1
            entered += ring[(w * steps + s) * 2]
            converted += ring[(w * steps + s) * 2 + 1]
        }
        return (entered, converted)
    }
}

/// One funnel's targets, in first-seen order (deterministic iteration), and its visit-rate EWMA.
struct FunnelState: Sendable {
    let name: String
    let stepNames: [String]
    let windows: Int
    var targets: [TargetState]
    var index: [String: Int] = [:]
    /// Visits per window (EWMA, one-hour half-life) fed with windows leaving the long window.
    var visitRate = 0.0
    var visitWindows = 0
    var stallSince: Int64?

    init(name: String, stepNames: [String], windows: Int) {
        self.name = name
        self.stepNames = stepNames
        self.windows = windows
        targets = [TargetState(dimension: nil, value: nil, steps: stepNames.count, windows: windows)]
    }

    /// An empty stand-in while the real state is mutated outside the array (no copy-on-write).
    init(placeholderFor state: FunnelState) {
        name = state.name
        stepNames = []
        windows = state.windows
        targets = []
    }

    mutating func push(_ snapshot: FunnelSnapshot, detector: FunnelDropDetector) {
        // Visit-rate EWMA from the window leaving the long window, frozen while stalled.
        let total = targets[0]
        if total.filled >= windows && stallSince == nil {
            let leaving = total.ring[(total.head * total.steps) * 2]
            visitRate = visitWindows == 0 ? Double(leaving)
                : visitRate * detector.visitDecay + Double(leaving) * (1 - detector.visitDecay)
            visitWindows += 1
        }
        targets[0].push(snapshot.steps, decay: detector.decay)
        guard detector.config.breakdowns else { return }
        var seen = Array(repeating: false, count: targets.count)
        seen[0] = true
        for breakdown in snapshot.breakdowns {
            for value in breakdown.values {
                let key = "\(breakdown.dimension)=\(value.name)"
                let t: Int
                if let existing = index[key] {
                    t = existing
                } else {
                    t = targets.count
                    index[key] = t
                    targets.append(TargetState(dimension: breakdown.dimension, value: value.name,
                                               steps: stepNames.count, windows: windows))
                    seen.append(false)
                }
                targets[t].push(value.steps, decay: detector.decay)
                seen[t] = true
            }
        }
        for t in targets.indices where !seen[t] { targets[t].push(nil, decay: detector.decay) }
    }
}

extension FunnelDropDetector: Codable {}

extension TargetState: Codable {}

extension FunnelState: Codable {}

extension TargetState.StepAlert: Codable {}
