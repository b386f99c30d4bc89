import Testing
@testable import FunnelCore

@Suite("Decoding and mappings")
struct DecodingTests {
    let json = try! CompiledMapping(.canonicalJSON)  // a constant known-good mapping, not wire data

    @Test func canonicalJSONEvent() throws {
        let line = #"{"event_id":"e-1","ts":1700000000123,"user_id":"u-1","session_id":"s-1","type":"view","item_id":"i-9","category":"c-3","price":59.9,"quantity":2,"device":"mobile","channel":"organic","ip":"10.1.2.3","user_agent":"ua-3","properties":{"a":[1,2,{"b":null}]},"truth":{"p":0.5}}"#
        let (event, failure) = decode(line, json)
        #expect(failure == nil)
        let e = try #require(event)
        #expect(e.timestamp == 1_700_000_000_123_000)
        #expect(e.type == .view)
        #expect(e.userKey == key("u-1"))
        #expect(e.eventKey == key("e-1"))
        #expect(e.itemKey == key("i-9"))
        #expect(e.deviceKey == key("mobile"))
        #expect(e.price == 59.9)
        #expect(e.quantity == 2)
        #expect(e.properties.isPresent)
    }

    @Test func renamedFieldsAndAliasesResolve() throws {
        // A producer renamed client_id → clientId and uses its own type names.
        let a = try #require(decode(#"{"client_id":"42","event":"product_added_to_cart","timestamp":1700000000}"#, json).event)
        let b = try #require(decode(#"{"clientId":"42","event_type":"ADDTOCART","time":"2023-11-14T22:13:20Z"}"#, json).event)
        #expect(a.userKey == key("42"))
        #expect(a.userKey == b.userKey)
        #expect(a.type == .cart && b.type == .cart)
        #expect(a.timestamp == b.timestamp)
    }

    @Test func firstCandidateWinsButEmptyValuesDoNotHideLaterOnes() throws {
        let both = try #require(decode(#"{"userId":"second","user_id":"first","type":"pv","ts":1700000000}"#, json).event)
        #expect(both.userKey == key("first"))
        let nullFirst = try #require(decode(#"{"user_id":null,"userId":"u","type":"pv","ts":1700000000}"#, json).event)
        #expect(nullFirst.userKey == key("u"))
    }

    @Test func nestedJSONPaths() throws {
        let line = #"{"user_id":"u","type":"view","ts":1700000000000,"context":{"device":{"type":"tablet"},"ip":"1.2.3.4"}}"#
        let e = try #require(decode(line, json).event)
        #expect(e.deviceKey == key("tablet"))
        #expect(e.ipKey == key("1.2.3.4"))
    }

    @Test func escapedStringsHashLikeTheirText() throws {
        let plain = try #require(decode(#"{"user_id":"ab","type":"view","ts":1700000000}"#, json).event)
        let escaped = try #require(decode(#"{"user_id":"a\u0062","type":"view","ts":1700000000}"#, json).event)
        #expect(plain.userKey == escaped.userKey)
    }

    @Test(arguments: [
        ("1700000000", Int64(1_700_000_000_000_000)),
        ("1700000000123", Int64(1_700_000_000_123_000)),
        ("1700000000123456", Int64(1_700_000_000_123_456)),
        ("1700000000.5", Int64(1_700_000_000_500_000)),
        ("\"2023-11-14T22:13:20.250Z\"", Int64(1_700_000_000_250_000)),
        ("\"2023-11-15T00:13:20+02:00\"", Int64(1_700_000_000_000_000)),
        ("\"2023-11-14 22:13:20 UTC\"", Int64(1_700_000_000_000_000)),
        ("\"1700000000\"", Int64(1_700_000_000_000_000)),
    ])
    func timestampUnitsAutoDetected(raw: String, micros: Int64) throws {
        let e = try #require(decode("{\"user_id\":\"u\",\"type\":\"view\",\"ts\":\(raw)}", json).event)
        #expect(e.timestamp == micros)
    }

    @Test func explicitUnitOverridesMagnitude() throws {
        var spec = MappingSpec.canonicalJSON
        spec.timestampUnit = .ms
        let m = try CompiledMapping(spec)
        // Read as milliseconds this is January 1970: outside the accepted range, a defined rejection.
        #expect(decode(#"{"user_id":"u","type":"view","ts":1700000000}"#, m).failure?.reason == .timestampOutOfRange)
        let e = try #require(decode(#"{"user_id":"u","type":"view","ts":"1700000000123.5"}"#, m).event)
        #expect(e.timestamp == 1_700_000_000_123_500)
    }

    @Test func csvByIndexTaobao() throws {
        let spec = MappingSpec(
            format: .csv,
            fields: ["user_id": .init([.index(0)]), "item_id": .init([.index(1)]), "category": .init([.index(2)]),
                     "type": .init([.index(3)]), "timestamp": .init([.index(4)])],
            timestampUnit: .s,
            types: ["view": ["pv"], "cart": ["cart"], "fav": ["fav"], "purchase": ["buy"]])
        let m = try CompiledMapping(spec)
        let e = try #require(decode("543462,1715,1464116,pv,1511658000\n", m).event)
        #expect(e.userKey == key("543462"))
        #expect(e.type == .view)
        #expect(e.timestamp == 1_511_658_000_000_000)
        #expect(decode("543462,1715,1464116,zz,1511658000", m).failure?.reason == .unknownType)
    }

    @Test func csvByHeaderWithRenamedColumnsAndQuotes() throws {
        let spec = MappingSpec(
            format: .csv, csv: .init(header: true),
            fields: ["user_id": .init([.name("client_id"), .name("clientId")]), "type": .init([.name("event")]),
                     "timestamp": .init([.name("ts")]), "category": .init([.name("cat")])])
        var decoder = RecordDecoder(mapping: try CompiledMapping(spec))
        func feed(_ s: String) -> DecodeOutcome { Array(s.utf8).withUnsafeBytes { decoder.decode($0) } }
        guard case .skipped = feed("ts,event,clientId,cat\n") else { Issue.record("header not skipped"); return }
        guard case .event(let e) = feed("1700000000,view,\"u\"\"1\",\"a,b\"\n") else { Issue.record("not decoded"); return }
        #expect(e.userKey == key("u\"1"))
        #expect(e.categoryKey == key("a,b"))
        // A second file with the other column name.
        decoder.startSource()
        guard case .skipped = feed("client_id,event,ts\n") else { Issue.record("header not skipped"); return }
        guard case .event(let f) = feed("u2,purchase,1700000001\n") else { Issue.record("not decoded"); return }
        #expect(f.userKey == key("u2"))
        #expect(f.type == .purchase)
    }

    @Test func mappingErrorsNameTheKey() {
        #expect(throws: MappingError(key: "fields.usr", message: "unknown field (known: event_id, timestamp, user_id, session_id, type, item_id, category, price, quantity, device, channel, ip, user_agent, properties)")) {
            try CompiledMapping(MappingSpec(fields: ["usr": .init([.name("u")]), "user_id": .init([.name("u")]),
                                                      "type": .init([.name("t")]), "timestamp": .init([.name("ts")])]))
        }
        #expect(throws: MappingError.self) {
            try CompiledMapping(MappingSpec(fields: ["type": .init([.name("t")]), "timestamp": .init([.name("ts")])]))
        }
        #expect(throws: MappingError.self) {
            try CompiledMapping(MappingSpec(
                fields: ["user_id": .init([.name("u")]), "type": .init([.name("t")]), "timestamp": .init([.name("ts")])],
                types: ["view": ["x"], "cart": ["X"]]))
        }
        #expect(throws: MappingError.self) {
            try CompiledMapping(MappingSpec(
                format: .csv,
                fields: ["user_id": .init([.name("u")]), "type": .init([.index(1)]), "timestamp": .init([.index(2)])]))
        }
    }
}
