#if canImport(Glibc)
import Glibc
#endif

/// A one-line progress bar on standard error, shown only when it is a terminal.
struct ProgressBar {
    let totalBytes: Int64
    private let clock = ContinuousClock()
    private let started: ContinuousClock.Instant
    private var lastDraw: ContinuousClock.Instant
    private let enabled: Bool

    init(totalBytes: Int64) {
        self.totalBytes = max(totalBytes, 1)
        started = clock.now
        lastDraw = started
        enabled = isatty(STDERR_FILENO) != 0
    }

    mutating func update(bytes: Int64, events: Int) {
        guard enabled else { return }
        let now = clock.now
        guard now - lastDraw >= .milliseconds(200) else { return }
        lastDraw = now
        let fraction = min(1, Double(bytes) / Double(totalBytes))
        let width = 30
        let filled = Int(fraction * Double(width))
        let elapsed = now - started
        let seconds = elapsed.inSeconds
        let rate = seconds > 0 ? Double(events) / seconds : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let line = "\r[\(bar)] \(Int(fraction * 100))%  \(events) events  \(Int(rate)) events/s "
        writeStderr(line)
    }

    func finish() {
        guard enabled else { return }
        writeStderr("\n")
    }
}

