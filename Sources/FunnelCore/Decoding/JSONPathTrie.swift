/// One object level of the JSON key trie: keys that are fields here, keys that lead deeper.
struct JSONPathNode: Sendable {
    struct Entry: Sendable {
        var key: [UInt8]
        /// Fields fed by this key's value (several candidates of different fields may share a key).
        var slots: [FieldSlot]
        /// Index of the nested node when a dotted path continues below this key, else -1.
        var child: Int
    }

    /// Entries bucketed by key length for a cheap first filter.
    var byLength: [[Entry]] = Array(repeating: [], count: 65)

    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer) -> Entry? {
        let n = key.count
        guard n < byLength.count else { return nil }
        for entry in byLength[n] {
            let equal = entry.key.withUnsafeBytes { stored in
                memoryEqual(stored.baseAddress, key.baseAddress, n)
            }
            if equal { return entry }
        }
        return nil
    }
}

@inline(__always)
func memoryEqual(_ a: UnsafeRawPointer?, _ b: UnsafeRawPointer?, _ n: Int) -> Bool {
    guard n > 0 else { return true }
    guard let a, let b else { return false }
    var i = 0
    while i + 8 <= n {
        if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
            return false
        }
        i += 8
    }
    while i < n {
        if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
        i += 1
    }
    return true
}

struct JSONPathTrieBuilder {
    var nodes: [JSONPathNode] = [JSONPathNode()]

    /// Adds a dotted path ("context.device.type"); a key containing a literal dot can't be addressed.
    mutating func add(path: String, field: CanonicalField, priority: Int) throws {
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map { Array($0.utf8) }
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0.count <= 64 }) else {
            throw MappingError(key: "fields.\(field.name)", message: "bad JSON path '\(path)'")
        }
        guard parts.count <= 8 else {
            throw MappingError(key: "fields.\(field.name)", message: "JSON path '\(path)' is deeper than 8 levels")
        }
        var node = 0
        for (depth, part) in parts.enumerated() {
            let last = depth == parts.count - 1
            var bucket = nodes[node].byLength[part.count]
            var position = bucket.firstIndex(where: { $0.key == part })
            if position == nil {
                bucket.append(.init(key: part, slots: [], child: -1))
                position = bucket.count - 1
            }
            guard let index = position else { return }
            if last {
                bucket[index].slots.append(FieldSlot(field: field, priority: UInt8(min(priority, 255))))
                nodes[node].byLength[part.count] = bucket
            } else {
                if bucket[index].child < 0 {
                    nodes.append(JSONPathNode())
                    bucket[index].child = nodes.count - 1
                }
                let next = bucket[index].child
                nodes[node].byLength[part.count] = bucket
                node = next
            }
        }
    }
}
