/// The mapping's JSON keys as flat, reference-free tables: looking a key up retains nothing.
///
/// Each object level of the trie is a node. For (node, key length) a range of entries lists the
/// candidate keys; an entry names its key bytes in `keyPool`, up to four field slots, and the
/// node below it when a dotted path continues.
struct JSONKeyTable: Sendable {
    static let maxKeyLength = 64

    struct Entry: Sendable {
        var keyStart: Int32
        var keyLength: Int32
        /// Nested node for dotted paths, or -1.
        var child: Int32
        var slotCount: Int32
        var slots: (FieldSlot, FieldSlot, FieldSlot, FieldSlot)

        @inline(__always)
        func slot(_ i: Int) -> FieldSlot {
            switch i {
            case 0: slots.0
            case 1: slots.1
            case 2: slots.2
            default: slots.3
            }
        }
    }

    var keyPool: [UInt8] = []
    var entries: [Entry] = []
    /// For node n and key length l: entries[rangeStart[n*65+l] ..< rangeEnd[n*65+l]].
    var rangeStart: [Int32] = []
    var rangeEnd: [Int32] = []
    var nodeCount = 0
}

/// Builds ``JSONKeyTable`` from dotted paths.
struct JSONPathTrieBuilder {
    private struct BuildEntry {
        var key: [UInt8]
        var slots: [FieldSlot]
        var child: Int
    }

    private var nodes: [[BuildEntry]] = [[]]

    /// Adds a dotted path ("context.device.type"); a key containing a literal dot can't be addressed.
    mutating func add(path: String, field: CanonicalField, priority: Int) throws {
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map { Array($0.utf8) }
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0.count <= JSONKeyTable.maxKeyLength }) else {
            throw MappingError(key: "fields.\(field.name)", message: "bad JSON path '\(path)'")
        }
        guard parts.count <= 8 else {
            throw MappingError(key: "fields.\(field.name)", message: "JSON path '\(path)' is deeper than 8 levels")
        }
        var node = 0
        for (depth, part) in parts.enumerated() {
            var index = nodes[node].firstIndex { $0.key == part }
            if index == nil {
                nodes[node].append(BuildEntry(key: part, slots: [], child: -1))
                index = nodes[node].count - 1
            }
            guard let i = index else { return }
            if depth == parts.count - 1 {
                guard nodes[node][i].slots.count < 4 else {
                    throw MappingError(key: "fields.\(field.name)", message: "key '\(path)' feeds more than 4 fields")
                }
                nodes[node][i].slots.append(FieldSlot(field: field, priority: UInt8(min(priority, 255))))
            } else {
                if nodes[node][i].child < 0 {
                    nodes.append([])
                    nodes[node][i].child = nodes.count - 1
                }
                node = nodes[node][i].child
            }
        }
    }

    func build() -> JSONKeyTable {
        var table = JSONKeyTable()
        table.nodeCount = nodes.count
        let width = JSONKeyTable.maxKeyLength + 1
        table.rangeStart = Array(repeating: 0, count: nodes.count * width)
        table.rangeEnd = Array(repeating: 0, count: nodes.count * width)
        let filler = FieldSlot(field: .eventID, priority: 255)
        for (n, entries) in nodes.enumerated() {
            for length in 0..<width {
                table.rangeStart[n * width + length] = Int32(table.entries.count)
                for e in entries where e.key.count == length {
                    let s = e.slots + Array(repeating: filler, count: 4 - e.slots.count)
                    table.entries.append(.init(
                        keyStart: Int32(table.keyPool.count), keyLength: Int32(length), child: Int32(e.child),
                        slotCount: Int32(e.slots.count), slots: (s[0], s[1], s[2], s[3])))
                    table.keyPool.append(contentsOf: e.key)
                }
                table.rangeEnd[n * width + length] = Int32(table.entries.count)
            }
        }
        return table
    }
}

@inline(__always)
func memoryEqual(_ a: UnsafeRawPointer?, _ b: UnsafeRawPointer?, _ n: Int) -> Bool {
    guard n > 0 else { return true }
    guard let a, let b else { return false }
    // Whole words, the last one overlapping the previous when n is not a multiple of the width.
    if n >= 8 {
        var i = 0
        while i + 8 < n {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                return false
            }
            i += 8
        }
        return a.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
            == b.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
    }
    if n >= 4 {
        return a.loadUnaligned(as: UInt32.self) == b.loadUnaligned(as: UInt32.self)
            && a.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)
                == b.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)
    }
    for i in 0..<n where a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) {
        return false
    }
    return true
}
