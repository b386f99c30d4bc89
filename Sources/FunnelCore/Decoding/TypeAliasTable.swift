/// Producer type values → canonical types, matched ASCII case-insensitively without allocating.
struct TypeAliasTable: Sendable {
    private struct Entry: Sendable {
        var lowered: [UInt8]
        var type: EventType
    }

    /// Entries bucketed by value length (values longer than the table are never aliases).
    private var byLength: [[Entry]]

    init(aliases: [String: [String]]) throws {
        var table = [[Entry]](repeating: [], count: 65)
        var seen: [String: String] = [:]
        let source = aliases.isEmpty ? MappingSpec.standardTypeAliases : aliases
        for (canonical, values) in source.sorted(by: { $0.key < $1.key }) {
            guard let type = EventType(name: canonical) else {
                let known = EventType.allCases.map(\.name).joined(separator: ", ")
                throw MappingError(key: "types.\(canonical)", message: "unknown canonical type (known: \(known))")
            }
            for value in values {
                let lowered = Array(value.lowercased().utf8)
                guard !lowered.isEmpty, lowered.count <= 64 else {
                    throw MappingError(key: "types.\(canonical)", message: "alias '\(value)' must be 1 to 64 bytes")
                }
                let key = String(decoding: lowered, as: UTF8.self)
                if let other = seen[key], other != canonical {
                    throw MappingError(
                        key: "types.\(canonical)", message: "alias '\(value)' is also listed under '\(other)'")
                }
                seen[key] = canonical
                table[lowered.count].append(Entry(lowered: lowered, type: type))
            }
        }
        byLength = table
    }

    @inline(__always)
    func lookup(_ bytes: UnsafeRawBufferPointer) -> EventType? {
        let n = bytes.count
        guard n > 0, n < byLength.count else { return nil }
        for entry in byLength[n] {
            var equal = true
            entry.lowered.withUnsafeBufferPointer { alias in
                for i in 0..<n {
                    var b = bytes[i]
                    if b >= 0x41 && b <= 0x5A { b |= 0x20 }
                    if b != alias[i] {
                        equal = false
                        return
                    }
                }
            }
            if equal { return entry.type }
        }
        return nil
    }
}
