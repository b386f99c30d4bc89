import Testing

@testable import FunnelDaemon

/// `run` copies each polled record into the stage before librdkafka frees the message: every copy
/// must keep its bytes until the batch is applied, whatever the mix of record sizes.
@Suite struct InputStageTests {
    @Test func copiesStayIntactAcrossBlocksUntilReset() {
        let stage = InputStage(records: 16, arenaBytes: 1024)
        for round in 0..<3 {
            // Small records, one larger than a block, and records that overflow the block in use.
            let sizes = [10, 300, 0, 2_000, 700, 700, 5, 1_024, 1_500, 1]
            var payloads: [[UInt8]] = []
            var copies: [UnsafeRawBufferPointer] = []
            for (i, size) in sizes.enumerated() {
                let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i &+ round) }
                payloads.append(payload)
                copies.append(payload.withUnsafeBytes { stage.copy($0) })
            }
            for (copy, payload) in zip(copies, payloads) {
                #expect(Array(copy) == payload)
            }
            stage.reset()
            #expect(stage.isEmpty)
        }
    }
}
