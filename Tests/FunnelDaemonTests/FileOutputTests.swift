import Foundation
import Testing

@testable import FunnelDaemon

/// `replay`'s output files: every record lands whole, in order, one per line, across the buffer's
/// flushes and for records larger than its slack.
@Suite struct FileOutputTests {
    @Test func linesSurviveFlushesAndOversizedRecords() throws {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("file-output-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var expected: [UInt8] = []
        do {
            let output = try FileOutput(path: path)
            // ~1.3 MB of small lines (past the 1 MiB flush), then a 3 MB line (larger than the
            // buffer itself), then small lines again.
            var lines: [[UInt8]] = (0..<40_000).map { Array(#"{"n":\#($0),"pad":"abcdefghij"}"#.utf8) }
            lines.append(Array(repeating: UInt8(ascii: "x"), count: 3 << 20))
            lines += (0..<10).map { Array("tail \($0)".utf8) }
            for line in lines {
                try output.writeLine(line)
                expected += line + [0x0A]
            }
            try Array("no newline".utf8).withUnsafeBytes { try output.write($0) }
            expected += Array("no newline".utf8)
            #expect(output.records == lines.count)
        }  // deinit flushes
        let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(written.count == expected.count)
        #expect(written == expected)
    }
}
