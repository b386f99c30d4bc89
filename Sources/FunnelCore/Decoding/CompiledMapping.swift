/// A ``MappingSpec`` turned into the tables the decoders use on the hot path.
///
/// Validation happens here, once, with errors naming the bad key; decoding never fails on the
/// mapping itself afterwards.
public struct CompiledMapping: Sendable {
    public let spec: MappingSpec
    let typeTable: TypeAliasTable
    /// JSON: the key trie; node 0 is the root object.
    let jsonKeys: JSONKeyTable
    /// CSV: for each column index, the (field, priority) pairs it feeds.
    private(set) var csvColumns: [[FieldSlot]]
    /// `csvColumns` flattened for the decoder, kept in step by ``setColumns(_:)``: column `c`'s
    /// slots are `csvColumnSlots[(c == 0 ? 0 : csvColumnEnds[c - 1])..<csvColumnEnds[c]]`. Reading
    /// a column out of the nested arrays retains and releases it, once per column of every record.
    private(set) var csvColumnSlots: [FieldSlot] = []
    private(set) var csvColumnEnds: [Int] = []
    /// CSV: field candidates by name, resolved against a header line or `csv.columns`.
    let csvNamedRefs: [(field: CanonicalField, priority: Int, name: String)]
    let csvDelimiter: UInt8
    public let maxRecordBytes: Int

    public init(_ spec: MappingSpec) throws {
        self.spec = spec
        guard spec.version == 1 else {
            throw MappingError(key: "version", message: "unsupported mapping version \(spec.version) (supported: 1)")
        }
        guard spec.maxRecordBytes > 0, spec.maxRecordBytes <= 16 << 20 else {
            throw MappingError(key: "max_record_bytes", message: "must be between 1 and 16777216")
        }
        maxRecordBytes = spec.maxRecordBytes

        var resolved: [(CanonicalField, [MappingSpec.FieldRef])] = []
        for (name, candidates) in spec.fields.sorted(by: { $0.key < $1.key }) {
            guard let field = CanonicalField(name: name) else {
                let known = CanonicalField.allCases.map(\.name).joined(separator: ", ")
                throw MappingError(key: "fields.\(name)", message: "unknown field (known: \(known))")
            }
            guard !candidates.refs.isEmpty else {
                throw MappingError(key: "fields.\(name)", message: "needs at least one candidate")
            }
            resolved.append((field, candidates.refs))
        }
        for required in [CanonicalField.user, .timestamp, .type]
        where !resolved.contains(where: { $0.0 == required }) {
            throw MappingError(key: "fields.\(required.name)", message: "required field is not mapped")
        }

        typeTable = try TypeAliasTable(aliases: spec.types)

        switch spec.format {
        case .json:
            csvColumns = []
            csvNamedRefs = []
            csvDelimiter = UInt8(ascii: ",")
            var builder = JSONPathTrieBuilder()
            for (field, refs) in resolved {
                for (priority, ref) in refs.enumerated() {
                    guard case .name(let path) = ref else {
                        throw MappingError(
                            key: "fields.\(field.name)", message: "column index \(ref) is only valid for format: csv")
                    }
                    try builder.add(path: path, field: field, priority: priority)
                }
            }
            jsonKeys = builder.build()
        case .csv:
            jsonKeys = JSONKeyTable()
            let delimiter = Array(spec.csv.delimiter.utf8)
            guard delimiter.count == 1, delimiter[0] != UInt8(ascii: "\""), delimiter[0] != UInt8(ascii: "\n") else {
                throw MappingError(key: "csv.delimiter", message: "must be a single byte other than quote or newline")
            }
            csvDelimiter = delimiter[0]
            var columns: [[FieldSlot]] = []
            var named: [(CanonicalField, Int, String)] = []
            for (field, refs) in resolved {
                if field == .properties {
                    throw MappingError(key: "fields.properties", message: "only valid for format: json")
                }
                for (priority, ref) in refs.enumerated() {
                    switch ref {
                    case .index(let index):
                        guard index >= 0, index < 4096 else {
                            throw MappingError(key: "fields.\(field.name)", message: "column index \(index) out of range")
                        }
                        while columns.count <= index { columns.append([]) }
                        columns[index].append(FieldSlot(field: field, priority: UInt8(min(priority, 255))))
                    case .name(let name):
                        guard spec.csv.header || !spec.csv.columns.isEmpty else {
                            throw MappingError(
                                key: "fields.\(field.name)",
                                message: "column name '\(name)' needs csv.header: true or csv.columns")
                        }
                        named.append((field, priority, name))
                    }
                }
            }
            csvColumns = []
            csvNamedRefs = named.map { (field: $0.0, priority: $0.1, name: $0.2) }
            setColumns(columns)
            if !spec.csv.columns.isEmpty {
                try resolveCSVHeader(spec.csv.columns)
            }
        }
    }

    /// Binds named CSV candidates to column indices (from a header line or `csv.columns`).
    /// Names absent from the header are simply never present, like a missing JSON key.
    public mutating func resolveCSVHeader(_ names: [String]) throws {
        var columns = csvColumns
        for ref in csvNamedRefs {
            guard let index = names.firstIndex(of: ref.name) else { continue }
            while columns.count <= index { columns.append([]) }
            columns[index].append(FieldSlot(field: ref.field, priority: UInt8(min(ref.priority, 255))))
        }
        setColumns(columns)
    }

    private mutating func setColumns(_ columns: [[FieldSlot]]) {
        csvColumns = columns
        csvColumnSlots = columns.flatMap { $0 }
        csvColumnEnds = []
        var end = 0
        for column in columns {
            end += column.count
            csvColumnEnds.append(end)
        }
    }

    /// Looks up a producer's type value (ASCII case-insensitive).
    @inline(__always)
    func eventType(_ bytes: UnsafeRawBufferPointer) -> EventType? { typeTable.lookup(bytes) }
}

/// Which canonical field a key/column feeds, and at which candidate rank (0 = preferred).
struct FieldSlot: Sendable {
    var field: CanonicalField
    var priority: UInt8
}
