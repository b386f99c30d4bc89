import Testing

@testable import FunnelCore

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

private func hex(_ digest: SHA256.Digest) -> String { digest.hex }

/// SHA-256 against FIPS 180-4's examples (and NIST's one-million-`a` vector), HMAC-SHA256
/// against RFC 4231, and the pseudonyms built on them.
@Suite("SHA-256, HMAC-SHA256 and user pseudonyms")
struct PseudonymTests {
    @Test("FIPS 180-4 / NIST SHA-256 vectors")
    func sha256Vectors() {
        #expect(hex(SHA256.hash(bytes(""))) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(SHA256.hash(bytes("abc"))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // 448 bits: the padding needs a second block.
        #expect(hex(SHA256.hash(bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(hex(SHA256.hash(bytes(
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")))
            == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
        #expect(hex(SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000)))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("incremental updates in any chunking equal one-shot hashing; padding edges 55/56/63/64 bytes")
    func sha256Chunking() {
        var rng = PseudonymTestRandom(seed: 7)
        for length in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000] {
            let message = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let whole = SHA256.hash(message)
            var hasher = SHA256()
            var offset = 0
            while offset < length {
                let n = min(length - offset, Int(rng.next() % 70) + 1)
                message[offset..<(offset + n)].withUnsafeBytes { hasher.update($0) }
                offset += n
            }
            #expect(hasher.finalize() == whole, "length \(length)")
            #expect(whole.bytes.count == 32)
        }
        // Differs from its neighbours (the vectors above pin the exact values).
        #expect(SHA256.hash([UInt8](repeating: 0, count: 55)) != SHA256.hash([UInt8](repeating: 0, count: 56)))
    }

    @Test("RFC 4231 HMAC-SHA256 test cases 1-7")
    func hmacVectors() {
        let cases: [([UInt8], [UInt8], String)] = [
            ([UInt8](repeating: 0x0b, count: 20), bytes("Hi There"),
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (bytes("Jefe"), bytes("what do ya want for nothing?"),
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            ([UInt8](repeating: 0xaa, count: 20), [UInt8](repeating: 0xdd, count: 50),
             "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
            (Array(1...25), [UInt8](repeating: 0xcd, count: 50),
             "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
            ([UInt8](repeating: 0xaa, count: 131), bytes("Test Using Larger Than Block-Size Key - Hash Key First"),
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
            ([UInt8](repeating: 0xaa, count: 131),
             bytes("This is a test using a larger than block-size key and a larger than block-size data. "
                 + "The key needs to be hashed before being used by the HMAC algorithm."),
             "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
        ]
        for (index, (key, data, expected)) in cases.enumerated() {
            #expect(HMACSHA256(key: key).authenticationCode(data).hex == expected, "case \(index)")
        }
        // Test case 5 is the one with a truncated (128-bit) output: exactly what a pseudonym is.
        let truncated = UserPseudonymizer(key: [UInt8](repeating: 0x0c, count: 20))
        #expect(truncated.pseudonym("Test With Truncation") == "a3b6167473100ee06e0c796c2955552b")
    }

    @Test("a pseudonym is stable for a key, differs across keys and ids, and is 32 hex characters")
    func pseudonyms() {
        let key = bytes("funnelpulse-test-key-0001")
        let a = UserPseudonymizer(key: key)
        let again = UserPseudonymizer(key: key)
        let other = UserPseudonymizer(key: bytes("funnelpulse-test-key-0002"))
        let p = a.pseudonym("alice@example.com")
        // Python: hmac.new(key, id, sha256).hexdigest()[:32]
        #expect(p == "e2fcce39e72388e9b1191139405d3907")
        #expect(again.pseudonym("alice@example.com") == p)
        #expect(other.pseudonym("alice@example.com") != p)
        #expect(a.pseudonym("alice@example.con") != p)
        #expect(p.utf8.count == UserPseudonymizer.length)
        #expect(p.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        #expect(a.pseudonym("") == "")
    }

    @Test("a record's id gets the same pseudonym whether plain or JSON-escaped; absent stays empty")
    func pseudonymOfRecordFields() {
        let p = UserPseudonymizer(key: bytes("another-sixteen-byte-key"))
        let expected = p.pseudonym("u1\"x")
        var plain = Array(#"u1"x"#.utf8)
        let viaPlain = plain.withUnsafeBytes { record in
            p.withPseudonym(of: Span(start: 0, count: record.count), in: record) { String(decoding: $0, as: UTF8.self) }
        }
        var escaped = Array(#"u\u0031\"x"#.utf8)
        let viaEscaped = escaped.withUnsafeBytes { record in
            p.withPseudonym(of: Span(start: 0, count: record.count, encoding: .jsonEscaped), in: record) {
                String(decoding: $0, as: UTF8.self)
            }
        }
        let viaAbsent = plain.withUnsafeBytes { record in
            p.withPseudonym(of: .absent, in: record) { $0.count }
        }
        plain.removeAll()
        escaped.removeAll()
        #expect(viaPlain == expected)
        #expect(viaEscaped == expected)
        #expect(viaAbsent == 0)
    }

    @Test("a checkpoint never carries the key; a restored engine starts without it")
    func checkpointsCarryNoKey() throws {
        var config = EngineConfig()
        config.dedupeCapacity = 1000
        config.maxUsers = 1000
        var plain = try Engine(config: config)
        var keyed = try Engine(config: config)
        let key = bytes("checkpoint-test-key-0001")
        let pseudonymizer = UserPseudonymizer(key: key)
        keyed.setUserPseudonymizer(pseudonymizer)
        var decoders = [RecordDecoder(mapping: try CompiledMapping(.canonicalJSON)),
                        RecordDecoder(mapping: try CompiledMapping(.canonicalJSON))]
        var sink = EncodingSink(pseudonymizer: nil)
        for i in 0..<50 {
            var line = Array(#"{"event_id":"c\#(i)","ts":\#(1_700_000_000_000 + i * 1000),"user_id":"carol-\#(i % 4)","type":"cart"}"#.utf8)
            line.withUnsafeBytes {
                plain.process($0, decoder: &decoders[0], at: SourcePosition(source: 0, offset: Int64(i)), sink: &sink)
                keyed.process($0, decoder: &decoders[1], at: SourcePosition(source: 0, offset: Int64(i)), sink: &sink)
            }
            line.removeAll()
        }
        let keyedBytes = try keyed.checkpoint()
        // (Checkpoints are not byte-identical across engines — hash-table order — but the key adds nothing.)
        #expect(keyedBytes.count == (try plain.checkpoint()).count)
        // The HMAC's key-derived inner and outer states appear nowhere, in either byte order.
        var states: [SIMD8<UInt32>] = []
        for pad: UInt8 in [0x36, 0x5c] {
            var block = [UInt8](repeating: pad, count: 64)
            for (i, b) in key.enumerated() { block[i] ^= b }
            var state = SHA256.initial
            block.withUnsafeBytes { SHA256.compress(&state, $0, at: 0) }
            states.append(state)
            let little = withUnsafeBytes(of: state) { Array($0) }
            let big = SHA256.Digest(words: state).bytes
            #expect(!Self.contains(keyedBytes, little) && !Self.contains(keyedBytes, big))
        }
        // (They are the states the HMAC really uses: the check above looks for the right bytes.)
        var inner = SHA256(midstate: states[0], length: 64)
        inner.update(bytes("carol-1"))
        var outer = SHA256(midstate: states[1], length: 64)
        outer.update(inner.finalize().bytes)
        #expect(outer.finalize() == HMACSHA256(key: key).authenticationCode(bytes("carol-1")))
        var restored = try Engine(config: config, checkpoint: keyedBytes)
        #expect(restored.userPseudonymizer == nil)
        #expect(restored.alerts?.entities.pseudonymizer == nil)
        #expect(restored.alerts?.carts.pseudonymizer == nil)
        restored.setUserPseudonymizer(pseudonymizer)
        #expect(restored.userPseudonymizer != nil)
        #expect(restored.alerts?.entities.pseudonymizer != nil)
        #expect(restored.alerts?.carts.pseudonymizer != nil)
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, needle.count <= haystack.count else { return false }
        var i = 0
        while i + needle.count <= haystack.count {
            if haystack[i] == first, haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }

    @Test("score records carry the pseudonym instead of the id when given one")
    func scoreRecordUser() throws {
        var config = EngineConfig()
        config.dedupeCapacity = 1000
        var engine = try Engine(config: config)
        let pseudonymizer = UserPseudonymizer(key: bytes("score-record-key-0001"))
        engine.setUserPseudonymizer(pseudonymizer)
        var decoder = RecordDecoder(mapping: try CompiledMapping(.canonicalJSON))
        var sink = EncodingSink(pseudonymizer: engine.userPseudonymizer)
        var rawSink = EncodingSink(pseudonymizer: nil)
        var rawEngine = try Engine(config: config)
        var rawDecoder = RecordDecoder(mapping: try CompiledMapping(.canonicalJSON))
        for i in 0..<30 {
            let type = ["page", "view", "cart"][i % 3]
            var line = Array(#"{"event_id":"e\#(i)","ts":\#(1_700_000_000_000 + i * 1000),"user_id":"bob-\#(i % 3)","type":"\#(type)"}"#.utf8)
            line.withUnsafeBytes {
                engine.process($0, decoder: &decoder, at: SourcePosition(source: 0, offset: Int64(i)), sink: &sink)
                rawEngine.process($0, decoder: &rawDecoder, at: SourcePosition(source: 0, offset: Int64(i)), sink: &rawSink)
            }
            line.removeAll()
        }
        #expect(engine.userPseudonymizer != nil)
        #expect(!sink.lines.isEmpty)
        #expect(sink.lines.count == rawSink.lines.count)
        // The same records without the option name the users: the test can fail.
        #expect(rawSink.lines.contains { $0.contains(#""user":"bob-1""#) })
        for line in sink.lines {
            #expect(!line.contains("bob-"))
        }
        #expect(sink.lines.contains { $0.contains(#""user":"\#(pseudonymizer.pseudonym("bob-1"))""#) })
    }
}

/// Encodes score records the way the daemon's sinks do, with the engine's pseudonymizer.
private struct EncodingSink: EngineSink {
    var pseudonymizer: UserPseudonymizer?
    var lines: [String] = []
    mutating func deadLetter(_ failure: DecodeFailure, record: UnsafeRawBufferPointer, position: SourcePosition) {}
    mutating func snapshot(_ snapshot: FunnelSnapshot) {}
    mutating func score(_ score: ModelScore, event: Event, record: UnsafeRawBufferPointer, position: SourcePosition) {
        var buffer = JSONBuffer()
        if let pseudonymizer {
            pseudonymizer.withPseudonym(of: event.user, in: record) { pseudonym in
                ScoreRecord.encode(score, event: event, record: record, names: ScoreRecord.Names(),
                                   pseudonymizedUser: pseudonym, into: &buffer)
            }
        } else {
            ScoreRecord.encode(score, event: event, record: record, names: ScoreRecord.Names(), into: &buffer)
        }
        lines.append(String(decoding: buffer.bytes, as: UTF8.self))
    }
}

/// Tiny deterministic generator for test data.
private struct PseudonymTestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        return StableHash.mix(state)
    }
}
