import FunnelCore

/// What became of one record: exactly one of these.
public enum RecordFate: Hashable, Sendable, CustomStringConvertible {
    case accepted
    case duplicate
    case skipped
    case rejected(DeadLetterReason)

    public var description: String {
        switch self {
        case .accepted: "accepted"
        case .duplicate: "duplicate"
        case .skipped: "skipped"
        case .rejected(let reason): reason.name
        }
    }
}

/// A deterministic stream of hostile records: simulated canonical JSON events (the simulator's
/// output), about half of them mutated.
///
/// Records go to one of two sources, like two Kafka partitions:
/// - source 0 carries the clean simulated events and *targeted* mutations whose outcome is known
///   in advance (``Mutation/expected``): NaN/∞/negative/huge prices, bad quantities, timestamps
///   outside 1990…2100 or unreadable, bad user ids, unknown types, deep nesting, invalid UTF-8,
///   oversized records, empty records, truncations, duplicates. None of them can move event time,
///   so every clean record on source 0 must be accepted.
/// - source 1 carries *blind* mutations whose outcome is not predictable: bit flips, byte
///   insertions, splices of two records, random timestamps (including far-future ones inside the
///   accepted range, which make the rest of that source late), random bytes. Their event ids are
///   renamed (`e-N` → `x-N`) so a mutated id can never equal a later clean id and turn it into a
///   duplicate.
/// The same seed always gives the same bytes.
public struct HostileStream {
    public enum Mutation: Int, CaseIterable, Sendable {
        // Source 0: clean and targeted.
        case none, duplicate, replayOld
        case priceNaN, priceInfinite, priceNegative, priceHugeFinite, priceNaNLiteral
        case quantityHuge, quantityNegative, quantityFraction
        case timestampAfter2100, timestampBefore1990, timestampNegative, timestampHuge, timestampISOFarFuture
        case userEmpty, userObject, typeUnknown
        case deepNesting, invalidUTF8, oversized, empty, whitespace, controlCharacter, truncated
        // Source 1: blind.
        case bitFlip, insertByte, splice, randomTimestamp, farFutureInRange, randomBytes

        public var isBlind: Bool { rawValue >= Mutation.bitFlip.rawValue }
        public var source: Int32 { isBlind ? 1 : 0 }

        /// The fates the record may have; nil when only the accounting can be checked.
        public var expected: Set<RecordFate>? {
            switch self {
            case .none, .priceHugeFinite: [.accepted]
            case .duplicate: [.duplicate]
            // Older than the dedupe span or not: behind the watermark either way, unless it is recent.
            case .replayOld: [.rejected(.late), .duplicate]
            case .priceNaN, .priceInfinite, .priceNegative: [.rejected(.badValue)]
            case .quantityHuge, .quantityNegative, .quantityFraction, .userObject: [.rejected(.badValue)]
            case .priceNaNLiteral, .controlCharacter: [.rejected(.malformedJSON)]
            case .timestampAfter2100, .timestampBefore1990, .timestampNegative, .timestampISOFarFuture:
                [.rejected(.timestampOutOfRange)]
            case .timestampHuge: [.rejected(.badTimestamp)]
            case .userEmpty: [.rejected(.missingUser)]
            case .typeUnknown: [.rejected(.unknownType)]
            case .deepNesting: [.rejected(.tooDeep)]
            case .invalidUTF8: [.rejected(.invalidUTF8)]
            case .oversized: [.rejected(.tooLarge)]
            case .empty, .whitespace: [.rejected(.emptyRecord)]
            case .truncated: [.rejected(.malformedJSON), .rejected(.emptyRecord)]
            case .bitFlip, .insertByte, .splice, .randomTimestamp, .farFutureInRange, .randomBytes: nil
            }
        }
    }

    public struct Options: Sendable {
        public var seed: UInt64 = 1
        /// Share of records that are mutated (the rest are clean simulated events on source 0).
        public var mutationRate: Double = 0.5
        /// Share of the mutated records that get a blind mutation (source 1).
        public var blindShare: Double = 0.3
        /// Share of the mutated records that are oversized (each is > 64 KiB).
        public var oversizedShare: Double = 0.001
        /// Never emit a newline inside a record (for line-oriented files).
        public var lineSafe: Bool = false
        public var simulatedUsers: Int = 5_000

        public init(seed: UInt64 = 1) { self.seed = seed }
    }

    public let options: Options
    private var random: SimRandom
    private var simulator: Simulator
    private var simulatorEnd: Int64
    private var simulatorRound: UInt64 = 0
    private var line: [UInt8] = []
    private var previousClean: [UInt8] = []
    private var previousBlind: [UInt8] = []
    /// Clean source-0 records kept for `replayOld` (a ring).
    private var history: [[UInt8]] = []
    private var historyNext = 0
    public private(set) var emitted = 0

    private static let targeted: [Mutation] = Mutation.allCases.filter {
        !$0.isBlind && $0 != .none && $0 != .oversized
    }
    private static let blind: [Mutation] = Mutation.allCases.filter(\.isBlind)

    public init(options: Options = Options()) {
        self.options = options
        random = SimRandom(seed: options.seed)
        var config = SimulatorConfig()
        config.seed = options.seed
        config.users = options.simulatedUsers
        config.duration = 7 * 86_400_000
        simulator = Simulator(config: config)
        simulatorEnd = config.start + config.duration
    }

    /// Writes the next record into `out` (replacing its contents, no trailing newline) and says
    /// how it was made.
    public mutating func next(into out: inout [UInt8]) -> Mutation {
        emitted += 1
        nextSimulated()
        let mutation = pick()
        out.removeAll(keepingCapacity: true)
        if mutation.isBlind {
            if let i = firstIndex(of: "\"event_id\":\"e-", in: line) { line[i + 12] = UInt8(ascii: "x") }
        }
        apply(mutation, to: &out)
        if options.lineSafe {
            for i in out.indices where out[i] == 0x0A { out[i] = 0x20 }
        }
        if mutation == .priceHugeFinite { previousClean = out }  // accepted too: the latest on source 0
        if mutation == .none {
            previousClean = out
            if history.count < 4096 {
                history.append(out)
            } else {
                history[historyNext] = out
                historyNext = (historyNext + 1) & 4095
            }
        }
        if mutation.isBlind { previousBlind = line }
        return mutation
    }

    private mutating func pick() -> Mutation {
        guard random.uniform() < options.mutationRate, !previousClean.isEmpty else { return .none }
        if random.uniform() < options.oversizedShare { return .oversized }
        if random.uniform() < options.blindShare { return Self.blind[random.below(Self.blind.count)] }
        return Self.targeted[random.below(Self.targeted.count)]
    }

    /// The next simulated event (with its newline dropped) in `line`; restarts the simulator with a
    /// new seed after its span so the stream never ends and event time keeps going forward.
    private mutating func nextSimulated() {
        line.removeAll(keepingCapacity: true)
        while !simulator.next(into: &line) {
            simulatorRound += 1
            var config = simulator.config
            config.seed = options.seed &+ simulatorRound &* 0x9E37_79B9
            config.start = simulatorEnd
            simulatorEnd = config.start + config.duration
            simulator = Simulator(config: config)
            line.removeAll(keepingCapacity: true)
        }
        while let last = line.last, last == 0x0A { line.removeLast() }
        // Event ids restart with each simulator round; keep them unique over the whole stream.
        if simulatorRound > 0, let i = firstIndex(of: "\"event_id\":\"e-", in: line) {
            line.insert(contentsOf: Array("r\(simulatorRound)-".utf8), at: i + 14)
        }
    }

    // MARK: - Mutations

    private mutating func apply(_ mutation: Mutation, to out: inout [UInt8]) {
        switch mutation {
        case .none:
            out = line
        case .duplicate:
            out = previousClean
        case .replayOld:
            out = history.isEmpty ? previousClean : history[random.below(history.count)]
        case .priceNaN: out = replacing("price", with: "\"NaN\"")
        case .priceInfinite: out = replacing("price", with: ["1e999", "\"Infinity\"", "\"-inf\"", "1E400"][random.below(4)])
        case .priceNegative: out = replacing("price", with: ["-0.01", "-5", "\"-1e3\""][random.below(3)])
        case .priceHugeFinite:
            out = replacing("price", with: ["1e300", "1.7976931348623157e308", "1e39", "123456789012345678901234567890"][random.below(4)])
        case .priceNaNLiteral: out = replacing("price", with: ["NaN", "Infinity", "-Infinity", "nan"][random.below(4)])
        case .quantityHuge: out = replacing("quantity", with: ["1000001", "99999999999999999999999", "1e6"][random.below(3)])
        case .quantityNegative: out = replacing("quantity", with: "-1")
        case .quantityFraction: out = replacing("quantity", with: "1.5")
        case .timestampAfter2100:
            out = replacing("ts", with: String(4_102_444_800_000 + Int64(random.below(1 << 40))))
        case .timestampBefore1990:
            // 1973…1989 in milliseconds (smaller numbers would be read as seconds by `auto`).
            out = replacing("ts", with: String(100_000_000_000 + Int64(random.below(531_152_000_000))))
        case .timestampNegative: out = replacing("ts", with: String(-1 - Int64(random.below(1 << 40))))
        case .timestampHuge: out = replacing("ts", with: ["99999999999999999999", "1e30", "9223372036854775807000"][random.below(3)])
        case .timestampISOFarFuture:
            out = replacing("ts", with: ["\"2100-01-01T00:00:00Z\"", "\"9999-12-31T23:59:59Z\"", "\"2150-06-01 12:00:00 UTC\""][random.below(3)])
        case .userEmpty: out = replacing("user_id", with: "\"\"")
        case .userObject: out = replacing("user_id", with: ["{}", "[1]", "{\"id\":\"u-1\"}"][random.below(3)])
        case .typeUnknown: out = replacing("type", with: ["\"teleport\"", "\"views\"", "\"\\u0076iew_\""][random.below(3)])
        case .deepNesting:
            let depth = 65 + random.below(200)
            out = inserting(",\"properties\":" + String(repeating: "[", count: depth) + String(repeating: "]", count: depth))
        case .invalidUTF8:
            let bad: [[UInt8]] = [[0xC3, 0x28], [0xED, 0xA0, 0x80], [0xC0, 0xAF], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0xE2, 0x82]]
            out = line
            // Inside the user id string, so only the encoding is wrong.
            let at = (firstIndex(of: "\"user_id\":\"", in: out) ?? 0) + 11
            out.insert(contentsOf: bad[random.below(bad.count)], at: min(at, out.count))
        case .oversized:
            out = inserting(",\"pad\":\"" + String(repeating: "x", count: 65_536) + "\"")
        case .empty:
            out = []
        case .whitespace:
            out = Array("  \t \r".utf8)
        case .controlCharacter:
            out = line
            let at = (firstIndex(of: "\"user_id\":\"", in: out) ?? 0) + 11
            out.insert([0x00, 0x01, 0x1F, 0x08][random.below(4)], at: min(at, out.count))
        case .truncated:
            out = Array(line[0..<random.below(max(line.count - 1, 1))])
        case .bitFlip:
            out = line
            for _ in 0...random.below(3) where !out.isEmpty {
                out[random.below(out.count)] ^= 1 << UInt8(random.below(8))
            }
        case .insertByte:
            out = line
            let interesting: [UInt8] = [0x00, 0x0A, 0x22, 0x5C, 0x7B, 0x7D, 0x5B, 0x2C, 0x3A, 0xFF, 0xC3, 0x30, 0x2D, 0x65]
            for _ in 0...random.below(2) {
                let byte = random.uniform() < 0.5 ? interesting[random.below(interesting.count)] : UInt8(random.below(256))
                out.insert(byte, at: random.below(out.count + 1))
            }
        case .splice:
            let other = previousBlind.isEmpty ? line : previousBlind
            let cut = random.below(line.count + 1)
            let from = random.below(other.count + 1)
            out = Array(line[0..<cut]) + Array(other[from...])
        case .randomTimestamp:
            // Anywhere in the accepted range: mostly behind the source (late), sometimes far ahead.
            let ms = TimestampParsing.earliest / 1000 + Int64(random.below(Int((TimestampParsing.latest - TimestampParsing.earliest) / 1000)))
            out = replacing("ts", with: String(ms))
        case .farFutureInRange:
            out = replacing("ts", with: String(4_070_908_800_000 + Int64(random.below(1 << 30))))  // 2099
        case .randomBytes:
            let n = random.below(300)
            out = (0..<n).map { _ in UInt8(random.below(256)) }
        }
    }

    /// `line` with the value of top-level `key` replaced (or the key added when absent).
    private func replacing(_ key: String, with value: String) -> [UInt8] {
        let needle = Array("\"\(key)\":".utf8)
        guard let k = firstIndex(of: needle, in: line) else {
            return inserting(",\"\(key)\":\(value)")
        }
        let start = k + needle.count
        var end = start
        if end < line.count, line[end] == UInt8(ascii: "\"") {
            end += 1
            while end < line.count, line[end] != UInt8(ascii: "\"") { end += 1 }
            end = min(end + 1, line.count)
        } else {
            while end < line.count, line[end] != UInt8(ascii: ","), line[end] != UInt8(ascii: "}") { end += 1 }
        }
        return Array(line[0..<start]) + Array(value.utf8) + Array(line[end...])
    }

    /// `line` with `text` added before its closing brace.
    private func inserting(_ text: String) -> [UInt8] {
        guard let close = line.lastIndex(of: UInt8(ascii: "}")) else { return line + Array(text.utf8) }
        return Array(line[0..<close]) + Array(text.utf8) + Array(line[close...])
    }

    private func firstIndex(of needle: String, in haystack: [UInt8]) -> Int? {
        firstIndex(of: Array(needle.utf8), in: haystack)
    }

    private func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        var i = 0
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0], Array(haystack[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }
}
