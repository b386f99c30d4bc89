import Foundation  // tests only: JSONSerialization reads back what the encoder wrote
import Testing

@testable import FunnelCore

/// The output encoder copies clean strings in one go (checked 8 bytes at a time) and score
/// records reuse names encoded once: every string must still come back exactly.
@Suite struct JSONOutputTests {
    static func readBack(_ buffer: JSONBuffer) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(buffer.bytes), options: [.fragmentsAllowed])
    }

    @Test func everySpecialByteAtEveryPositionIsEscaped() throws {
        let specials: [UInt8] = [0x22, 0x5C, 0x0A, 0x0D, 0x09, 0x00, 0x1F, 0x7F, 0xC3]
        for length in 1...20 {
            for position in 0..<length {
                for special in specials {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[position] = special
                    if special == 0xC3 {  // a two-byte character, kept as is
                        bytes.insert(0xA9, at: position + 1)
                    }
                    let text = String(decoding: bytes, as: UTF8.self)
                    var buffer = JSONBuffer()
                    buffer.string(text)
                    #expect(try Self.readBack(buffer) as? String == text, "length \(length) byte \(special) at \(position)")
                }
            }
        }
    }

    @Test func literalsAndEncodedValues() throws {
        var buffer = JSONBuffer()
        buffer.beginArray()
        buffer.null()
        buffer.bool(true)
        buffer.bool(false)
        buffer.encoded("\"pre\\\"encoded\"")
        buffer.endArray()
        #expect(String(decoding: buffer.bytes, as: UTF8.self) == #"[null,true,false,"pre\"encoded"]"#)
    }

    @Test func scoreNamesEncodedOnceComeBackExactly() throws {
        let names = ScoreRecord.Names(features: ["bias", "type=\"view\"", "tab\there"], steps: ["visit", "chéckout"])
        var buffer = JSONBuffer()
        buffer.beginArray()
        for i in 0..<3 { names.features.write(i, into: &buffer) }
        for i in 0..<3 { names.steps.write(i, into: &buffer) }  // step 2 does not exist: null
        buffer.endArray()
        let values = try #require(try Self.readBack(buffer) as? [Any])
        #expect(values.count == 6)
        #expect(values.prefix(5).compactMap { $0 as? String } == ["bias", "type=\"view\"", "tab\there", "visit", "chéckout"])
        #expect(values[5] is NSNull)
    }
}
