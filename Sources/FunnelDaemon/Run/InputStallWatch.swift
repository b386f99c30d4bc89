import FunnelCore

/// Processing-time stall detection for `run`: once input has flowed, a quiet spell of
/// `stall_after_seconds` raises `stream_stalled:input` at once, and the next record resolves it.
///
/// The engine's own `stream_stalled` works in event time and can only see a stall when the
/// watermark moves again; on-call people need to hear while it lasts.
struct InputStallWatch {
    let after: Duration
    private var lastInput: ContinuousClock.Instant?
    private var lastRead = 0
    private var firingSince: ContinuousClock.Instant?
    private var firingEventTime: Int64 = 0

    init(afterSeconds: Int) {
        after = .seconds(afterSeconds)
    }

    /// Called after every poll with the engine's records-read counter and newest event time (µs).
    mutating func check(now: ContinuousClock.Instant, recordsRead: Int, eventTime: Int64) -> Alert? {
        guard after > .zero else { return nil }
        if recordsRead != lastRead {
            lastRead = recordsRead
            lastInput = now
            guard let since = firingSince else { return nil }
            firingSince = nil
            return alert(.resolved, quiet: now - since + after, eventTime: eventTime, since: firingEventTime)
        }
        guard firingSince == nil, let last = lastInput, now - last >= after else { return nil }
        firingSince = now
        firingEventTime = eventTime
        return alert(.firing, quiet: now - last, eventTime: eventTime, since: eventTime)
    }

    private func alert(_ state: AlertState, quiet: Duration, eventTime: Int64, since: Int64) -> Alert {
        let seconds = quiet.inSeconds
        let message = state == .firing
            ? "no input for \(Int(seconds)) s (stall_after_seconds \(Int(after.components.seconds)))"
            : "input resumed after \(Int(seconds)) s without records"
        var alert = Alert(id: "stream_stalled:input", kind: .streamStalled, state: state, severity: .critical,
                          time: eventTime, since: since, entityType: "stream", entity: "input", message: message)
        alert.evidence = [AlertEvidence("seconds_without_input", seconds.rounded())]
        return alert
    }
}
