import Testing
@testable import FunnelCore

@Suite("Duplicate detection")
struct DeduplicatorTests {
    let second: Int64 = 1_000_000

    @Test func idsAreRememberedForOneToTwoSpans() {
        var d = Deduplicator(spanSeconds: 10, capacity: 1000)
        var answers: [Bool] = []
        answers.append(d.isDuplicate(42, streamTime: 0))
        answers.append(d.isDuplicate(42, streamTime: 5 * second))
        // Across one rotation (at 10 s) the id is still known…
        answers.append(d.isDuplicate(7, streamTime: 12 * second))
        answers.append(d.isDuplicate(42, streamTime: 15 * second))
        // …after two rotations it has aged out and counts as new again.
        answers.append(d.isDuplicate(8, streamTime: 23 * second))
        answers.append(d.isDuplicate(42, streamTime: 24 * second))
        answers.append(d.isDuplicate(42, streamTime: 25 * second))
        #expect(answers == [false, true, false, true, false, false, true])
    }

    @Test func manyIdsAndEarlyRotationWhenFull() {
        var d = Deduplicator(spanSeconds: 3600, capacity: 5000)
        var newIDs = 0
        for k in 1...20_000 where !d.isDuplicate(StableHash.mix(UInt64(k)), streamTime: Int64(k)) { newIDs += 1 }
        #expect(newIDs == 20_000)
        #expect(d.earlyRotations == 3)
        // The most recent generation is still remembered after early rotations.
        var remembered = 0
        for k in 19_000...20_000 where d.isDuplicate(StableHash.mix(UInt64(k)), streamTime: 20_001) { remembered += 1 }
        #expect(remembered == 1001)
    }
}
