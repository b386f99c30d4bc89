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

    /// Keys and strings of every length a record holds, short and long, and of every kind of
    /// string value: commas, colons and the text must come back exactly.
    @Test func keysAndValuesAroundTheStackBufferLimit() throws {
        let longKey: StaticString = "a_key_of_exactly_one_hundred_bytes_which_is_past_the_limit_of_the_stack_buffer_used_for_keys_0123456"
        #expect(longKey.utf8CodeUnitCount == 100)
        var expected: [String: String] = [:]
        var buffer = JSONBuffer()
        buffer.beginObject()
        buffer.key("short")
        buffer.string("v")
        expected["short"] = "v"
        buffer.key(longKey)
        buffer.string("")
        expected[longKey.description] = ""
        for length in [0, 1, 91, 92, 93, 200] {
            let clean = String(repeating: "x", count: length)
            let record = Array("{\"id\":\"\(clean)\"}".utf8)
            let span = Span(start: 7, count: length, encoding: .plain)
            buffer.key(escaping: "plain\(length)")
            record.withUnsafeBytes { buffer.string(span, in: $0) }
            expected["plain\(length)"] = clean
            buffer.key(escaping: "escaped\(length)")
            let escaped = Array("\\\"".utf8) + Array(clean.utf8)  // \" then the clean text
            escaped.withUnsafeBytes { buffer.string(Span(start: 0, count: escaped.count, encoding: .jsonEscaped), in: $0) }
            expected["escaped\(length)"] = "\"" + clean
            buffer.key(escaping: "bytes\(length)")
            Array(clean.utf8).withUnsafeBytes { buffer.bytesAsString($0) }
            expected["bytes\(length)"] = clean
        }
        buffer.key("absent")
        Array("{}".utf8).withUnsafeBytes { buffer.string(Span.absent, in: $0) }
        expected["absent"] = ""
        buffer.endObject()
        let object = try #require(try Self.readBack(buffer) as? [String: String])
        #expect(object == expected)
    }

    /// Numbers are formatted by hand into reserved room: rounding, signs, dropped trailing zeros,
    /// leading zeros of the fraction, and the two values that take another spelling.
    @Test func numbersAreSpelledExactly() {
        let cases: [(Double, Int, String)] = [
            (0, 6, "0"), (-0.0, 6, "0"), (-0.0000004, 6, "0"), (0.0000005, 6, "0.000001"),
            (1.5, 6, "1.5"), (-2.25, 6, "-2.25"), (0.0421, 7, "0.0421"), (0.00000012, 7, "0.0000001"),
            (123_456.000_000_1, 6, "123456"), (-7, 0, "-7"), (2.5, 0, "3"), (0.125, 2, "0.13"),
            (1234.5678, 2, "1234.57"), (1e10, 6, "10000000000.0"), (.nan, 6, "null"), (-.infinity, 3, "null"),
        ]
        for (value, decimals, spelled) in cases {
            var buffer = JSONBuffer()
            buffer.double(value, decimals: decimals)
            #expect(String(decoding: buffer.bytes, as: UTF8.self) == spelled, "\(value) to \(decimals) places")
        }
        let integers: [Int64] = [0, 7, -7, 10, 1_000_000, .max, .min]
        var buffer = JSONBuffer()
        buffer.beginArray()
        for v in integers { buffer.int(v) }
        buffer.endArray()
        #expect(String(decoding: buffer.bytes, as: UTF8.self) == "[" + integers.map(String.init).joined(separator: ",") + "]")
    }

    /// An estimate is not a limit: a writer that outgrows its reservation is retried with more
    /// room, and nothing of the failed attempt stays in the buffer.
    @Test func writesLargerThanTheirEstimateComeOutWhole() throws {
        var buffer = JSONBuffer(capacity: 0)
        buffer.beginArray()
        buffer.string("first")
        let long = String(repeating: "\u{1}x\"", count: 300)
        buffer.value(estimate: 1) { w in
            w.fragment(#"{"k":"#)
            Array(long.utf8).withUnsafeBytes { w.string($0) }
            w.byte(UInt8(ascii: "}"))
        }
        buffer.int(5)
        buffer.endArray()
        let values = try #require(try Self.readBack(buffer) as? [Any])
        #expect(values.count == 3)
        #expect(values[0] as? String == "first")
        #expect((values[1] as? [String: String])?["k"] == long)
        #expect(values[2] as? Int == 5)
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

    /// Score records spell their keys as a few literal fragments: every field must still read
    /// back as JSON, with the schema name, and the `top` list's commas right for 0, 1 and 3 entries.
    @Test(arguments: [0, 1, 3])
    func scoreRecordReadsBackWithEveryField(topCount: Int) throws {
        let line = jsonEvent(#"u\"7"#, "view", 1_700_000_000.25, id: "e-1", item: "i1")
        let mapping = try CompiledMapping(.canonicalJSON)
        let event = try #require(decode(line, mapping).event)
        var prediction = Prediction()
        prediction.probability = 0.0421
        for k in 0..<topCount { prediction.offer(name: UInt16(k), contribution: Double(k + 1) * -0.5) }
        let score = ModelScore(seq: 12, prediction: prediction, version: 99, step: 1)
        let names = ScoreRecord.Names(features: ["bias", "type:view", "stage:carted"], steps: ["visit", "product_view"])
        var buffer = JSONBuffer()
        Array(line.utf8).withUnsafeBytes { ScoreRecord.encode(score, event: event, record: $0, names: names, into: &buffer) }
        let object = try #require(try Self.readBack(buffer) as? [String: Any])
        #expect(object["schema"] as? String == ScoreRecord.schema)
        #expect(object["seq"] as? Int == 12)
        #expect(object["event_id"] as? String == "e-1")
        #expect(object["user"] as? String == #"u"7"#)
        #expect(object["event_time_ms"] as? Int == 1_700_000_000_250)
        #expect(object["score"] as? Double == 0.0421)
        #expect(object["model_version"] as? Int == 99)
        #expect(object["step"] as? String == "product_view")
        let top = try #require(object["top"] as? [[String: Any]])
        #expect(top.count == topCount)
        // Largest |contribution| first.
        #expect(top.compactMap { $0["feature"] as? String } == ["bias", "type:view", "stage:carted"].prefix(topCount).reversed())
        #expect(top.compactMap { $0["contribution"] as? Double } == (0..<topCount).map { Double(topCount - $0) * -0.5 })
        #expect(object.count == 9)
    }
}
