/// Decodes one producer record (a JSON object or a CSV line) into a canonical ``Event``.
///
/// One decoder per input stream: it owns a scratch buffer (for unescaping) and, for CSV with a
/// header line, the column binding. Decoding allocates nothing in the steady state.
public struct RecordDecoder: Sendable {
    public private(set) var mapping: CompiledMapping
    private var scratch: [UInt8] = []
    private var fields = RawFields()
    private var expectingHeader: Bool
    private var headerMapping: CompiledMapping?

    public init(mapping: CompiledMapping) {
        self.mapping = mapping
        scratch.reserveCapacity(256)
        expectingHeader = mapping.spec.format == .csv && mapping.spec.csv.header
    }

    /// Call at the start of each new file so a CSV header line is read again.
    public mutating func startSource() {
        expectingHeader = mapping.spec.format == .csv && mapping.spec.csv.header
        if let headerMapping { mapping = headerMapping }
    }

    public mutating func decode(_ record: UnsafeRawBufferPointer) -> DecodeOutcome {
        var event = Event()
        switch decode(record, into: &event) {
        case .event: return .event(event)
        case .rejected(let failure): return .rejected(failure)
        case .skipped: return .skipped
        }
    }

    /// Decodes `record` into `event`, which must be a fresh ``Event()`` (fields the record lacks
    /// keep their defaults). The engine's own path: no 250-byte event is copied through an enum.
    public mutating func decode(_ record: UnsafeRawBufferPointer, into event: inout Event) -> DecodeStatus {
        guard let base = record.baseAddress?.assumingMemoryBound(to: UInt8.self), record.count > 0 else {
            return mapping.spec.format == .csv ? .skipped : .rejected(DecodeFailure(.emptyRecord, "record is empty"))
        }
        var count = record.count
        while count > 0 && (base[count - 1] == 0x0A || base[count - 1] == 0x0D) { count -= 1 }
        // The limit is on the record itself: a file line's terminator does not count, so a line and a
        // Kafka message with the same content get the same outcome.
        guard count <= mapping.maxRecordBytes else {
            return .rejected(DecodeFailure(.tooLarge, "record larger than max_record_bytes"))
        }
        guard UTF8Validation.isValid(record) else {
            return .rejected(DecodeFailure(.invalidUTF8, "record is not valid UTF-8"))
        }
        fields.reset()
        switch mapping.spec.format {
        case .json:
            if let failure = JSONRecordScanner.scan(base, count: count, keys: mapping.jsonKeys, into: &fields) {
                return .rejected(failure)
            }
        case .csv:
            if count == 0 { return .skipped }
            if expectingHeader {
                expectingHeader = false
                switch bindHeader(UnsafeRawBufferPointer(start: base, count: count)) {
                case .rejected(let failure): return .rejected(failure)
                default: return .skipped
                }
            }
            if let failure = scanCSV(base, count: count) { return .rejected(failure) }
        }
        if let failure = assemble(UnsafeRawBufferPointer(start: base, count: count), into: &event) {
            return .rejected(failure)
        }
        return .event
    }

    // MARK: - CSV

    private mutating func bindHeader(_ line: UnsafeRawBufferPointer) -> DecodeOutcome {
        var names: [String] = []
        var failure: DecodeFailure?
        CSVLineSplitter.split(line, delimiter: mapping.csvDelimiter) { column, span in
            var bytes: [UInt8] = []
            if span.encoding == .csvQuoted {
                ValueParsing.unescapeCSV(UnsafeRawBufferPointer(rebasing: line[span.range]), into: &bytes)
            } else {
                bytes = Array(line[span.range])
            }
            names.append(String(decoding: bytes, as: UTF8.self).trimmingASCIISpaces())
            return true
        } onError: { failure = $0 }
        if let failure { return .rejected(failure) }
        let original = headerMapping ?? mapping
        headerMapping = original
        var bound = original
        do {
            try bound.resolveCSVHeader(names)
        } catch {
            return .rejected(DecodeFailure(.malformedCSV, "header line could not be bound"))
        }
        mapping = bound
        return .skipped
    }

    private mutating func scanCSV(_ base: UnsafePointer<UInt8>, count: Int) -> DecodeFailure? {
        var failure: DecodeFailure?
        mapping.csvColumnSlots.withUnsafeBufferPointer { slots in
            mapping.csvColumnEnds.withUnsafeBufferPointer { ends in
                CSVLineSplitter.split(
                    UnsafeRawBufferPointer(start: base, count: count), delimiter: mapping.csvDelimiter
                ) { column, span in
                    guard column < ends.count else { return false }
                    for i in (column == 0 ? 0 : ends[column - 1])..<ends[column] {
                        fields.offer(slots[i], kind: span.count == 0 ? .null : .string, span: span)
                    }
                    return true
                } onError: { failure = $0 }
            }
        }
        return failure
    }

    // MARK: - Assembly

    /// Fills `event` from the scanned fields; nil, or why the record is unusable.
    private mutating func assemble(_ record: UnsafeRawBufferPointer, into event: inout Event) -> DecodeFailure? {

        // user: required, a non-empty string or a number.
        let user = fields[.user]
        guard user.kind == .string || user.kind == .number, user.span.count > 0 else {
            if user.kind == .object || user.kind == .array || user.kind == .literal {
                return DecodeFailure(.badValue, "user_id is not a string or number")
            }
            return DecodeFailure(.missingUser, "no user id")
        }
        event.user = user.span
        guard let userKey = key(of: user, in: record) else {
            return DecodeFailure(.malformedJSON, "bad escape in user id")
        }
        event.userKey = userKey

        // timestamp: required.
        let ts = fields[.timestamp]
        switch ts.kind {
        case .absent, .null:
            return DecodeFailure(.missingTimestamp, "no timestamp")
        case .string, .number:
            switch TimestampParsing.parse(
                UnsafeRawBufferPointer(rebasing: record[ts.span.range]), isString: ts.kind == .string,
                unit: mapping.spec.timestampUnit)
            {
            case .ok(let micros): event.timestamp = micros
            case .bad: return DecodeFailure(.badTimestamp, "timestamp is not in the mapped unit/format")
            case .outOfRange:
                return DecodeFailure(.timestampOutOfRange, "timestamp outside 1990-01-01..2100-01-01")
            }
        default:
            return DecodeFailure(.badTimestamp, "timestamp is not a string or number")
        }

        // type: required, mapped through the aliases.
        let type = fields[.type]
        guard type.kind == .string || type.kind == .number, type.span.count > 0 else {
            return DecodeFailure(.missingType, "no event type")
        }
        let canonical: EventType?
        if type.span.encoding == .plain {
            canonical = mapping.eventType(UnsafeRawBufferPointer(rebasing: record[type.span.range]))
        } else {
            guard unescape(type.span, in: record) else {
                return DecodeFailure(.malformedJSON, "bad escape in type")
            }
            canonical = scratch.withUnsafeBytes { mapping.eventType($0) }
        }
        if let canonical {
            event.type = canonical
        } else if mapping.spec.unknownTypes == .custom {
            event.type = .custom
        } else {
            return DecodeFailure(.unknownType, "event type has no alias in the mapping")
        }

        // Optional identifiers and dimensions.
        for field in Self.optionalStrings {
            let raw = fields[field]
            switch raw.kind {
            case .absent, .null:
                continue
            case .string, .number, .literal:
                if raw.span.count == 0 { continue }
                guard let k = key(of: raw, in: record) else {
                    return DecodeFailure(.malformedJSON, "bad escape in a string")
                }
                switch field {
                case .eventID: event.eventID = raw.span; event.eventKey = k
                case .session: event.session = raw.span; event.sessionKey = k
                case .item: event.item = raw.span; event.itemKey = k
                case .category: event.category = raw.span; event.categoryKey = k
                case .device: event.device = raw.span; event.deviceKey = k
                case .channel: event.channel = raw.span; event.channelKey = k
                case .ip: event.ip = raw.span; event.ipKey = k
                default: event.userAgent = raw.span; event.userAgentKey = k
                }
            case .object, .array:
                return DecodeFailure(.badValue, "an identifier or dimension is an object or array")
            }
        }

        let price = fields[.price]
        if price.kind == .string || price.kind == .number, price.span.count > 0 {
            guard let value = ValueParsing.parseDouble(UnsafeRawBufferPointer(rebasing: record[price.span.range])),
                value.isFinite, value >= 0
            else {
                return DecodeFailure(.badValue, "price is not a finite non-negative number")
            }
            event.price = value
        } else if price.kind == .object || price.kind == .array || price.kind == .literal {
            return DecodeFailure(.badValue, "price is not a number")
        }

        let quantity = fields[.quantity]
        if quantity.kind == .string || quantity.kind == .number, quantity.span.count > 0 {
            guard let value = ValueParsing.parseInt(UnsafeRawBufferPointer(rebasing: record[quantity.span.range])),
                value >= 0, value <= 1_000_000
            else {
                return DecodeFailure(.badValue, "quantity is not an integer in 0...1000000")
            }
            event.quantity = Int32(value)
        } else if quantity.kind == .object || quantity.kind == .array || quantity.kind == .literal {
            return DecodeFailure(.badValue, "quantity is not a number")
        }

        let properties = fields[.properties]
        if properties.kind == .object { event.properties = properties.span }
        return nil
    }

    private static let optionalStrings: [CanonicalField] = [
        .eventID, .session, .item, .category, .device, .channel, .ip, .userAgent,
    ]

    /// Stable hash of a value's text (after unescaping); never 0, which means "absent".
    @inline(__always)
    private mutating func key(of raw: RawField, in record: UnsafeRawBufferPointer) -> UInt64? {
        let h: UInt64
        if raw.span.encoding == .plain {
            h = StableHash.hash(UnsafeRawBufferPointer(rebasing: record[raw.span.range]))
        } else {
            guard unescape(raw.span, in: record) else { return nil }
            h = scratch.withUnsafeBytes { StableHash.hash($0) }
        }
        return h == 0 ? 1 : h
    }

    private mutating func unescape(_ span: Span, in record: UnsafeRawBufferPointer) -> Bool {
        let bytes = UnsafeRawBufferPointer(rebasing: record[span.range])
        switch span.encoding {
        case .plain:
            scratch.removeAll(keepingCapacity: true)
            scratch.append(contentsOf: bytes)
            return true
        case .jsonEscaped:
            return ValueParsing.unescapeJSON(bytes, into: &scratch)
        case .csvQuoted:
            ValueParsing.unescapeCSV(bytes, into: &scratch)
            return true
        }
    }
}

extension String {
    func trimmingASCIISpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\u{FEFF}" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
