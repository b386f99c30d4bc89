import Testing

@testable import FunnelCore

/// The engine's watermark decides what is late and when funnels, labels and windows close, so
/// skipping the recompute for sources above the minimum must never change it.
@Suite struct SourceWatermarksTests {
    /// The definition: after every change, min over active sources of (max − lateness), held
    /// back by a registered source with no event, unchanged with all idle, never moving back.
    struct Reference {
        var maxTime: [Int64] = []
        var idle: [Bool] = []
        var watermark: Int64 = .min
        let lateness: Int64

        mutating func grow(_ source: Int) {
            while maxTime.count <= source {
                maxTime.append(.min)
                idle.append(false)
            }
        }

        mutating func update() {
            var low = Int64.max
            for s in maxTime.indices where !idle[s] {
                if maxTime[s] == .min { return }
                low = min(low, maxTime[s])
            }
            guard low != .max else { return }
            watermark = max(watermark, low - lateness)
        }

        mutating func observe(_ time: Int64, source: Int) {
            grow(source)
            idle[source] = false
            maxTime[source] = max(maxTime[source], time)
            update()
        }

        mutating func setIdle(_ source: Int, _ isIdle: Bool) {
            grow(source)
            idle[source] = isIdle
            update()
        }

        mutating func takeOver(_ time: Int64, source: Int) {
            grow(source)
            maxTime[source] = max(maxTime[source], time)
            update()
        }
    }

    /// A small deterministic generator (the suite must not depend on the platform's RNG).
    struct SplitMix {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
    }

    @Test("interleaved sources, idle flags, registrations and handovers: the same watermark as a full recompute every time",
          arguments: [1, 4, 64])
    func matchesFullRecompute(sources: Int) {
        var rng = SplitMix(state: UInt64(sources))
        var fast = SourceWatermarks(lateness: 5_000_000)
        var reference = Reference(lateness: 5_000_000)
        var clock = [Int64](repeating: 1_000_000_000, count: sources + 1)
        var mismatches = 0
        for step in 0..<200_000 {
            let source = rng.next(clock.count)
            switch rng.next(100) {
            case 0..<85:
                // Mostly forward per source, sometimes out of order within the source.
                clock[source] += Int64(rng.next(3_000_000))
                let time = clock[source] - Int64(rng.next(10) == 0 ? rng.next(8_000_000) : 0)
                fast.observe(time, source: source)
                reference.observe(time, source: source)
            case 85..<93:
                let isIdle = rng.next(2) == 0
                fast.setIdle(source, isIdle)
                reference.setIdle(source, isIdle)
            case 93..<97:
                // A source registered ahead of its first event (a newly assigned partition); it
                // holds the watermark until it reports.
                let fresh = min(clock.count + rng.next(2), sources + 8)
                fast.setIdle(fresh, false)
                reference.setIdle(fresh, false)
                if fresh >= clock.count { clock.append(contentsOf: repeatElement(clock[0], count: fresh - clock.count + 1)) }
            default:
                let time = clock[source] + Int64(rng.next(20_000_000))
                fast.takeOver(maxTime: time, source: source)
                reference.takeOver(time, source: source)
            }
            if fast.watermark != reference.watermark {
                mismatches += 1
                if mismatches == 1 {
                    Issue.record("step \(step): watermark \(fast.watermark), full recompute \(reference.watermark)")
                }
            }
        }
        #expect(mismatches == 0)
        #expect(reference.watermark > 1_000_000_000)  // the stream did move it
    }

    @Test("a decoded checkpoint continues exactly where the original does")
    func checkpointRoundTrip() throws {
        var original = SourceWatermarks(lateness: 1_000)
        for s in 0..<8 { original.observe(Int64(10_000 + s * 100), source: s) }
        var restored = try BinaryCoder.decode(SourceWatermarks.self, from: BinaryCoder.encode(original))
        #expect(restored.watermark == original.watermark)
        // Source 0 is the minimum: advancing it must move both watermarks alike.
        for step in 1...20 {
            let time = Int64(10_000 + step * 150)
            original.observe(time, source: step % 8)
            restored.observe(time, source: step % 8)
            #expect(restored.watermark == original.watermark)
        }
        #expect(original.watermark > 9_000)
    }
}
