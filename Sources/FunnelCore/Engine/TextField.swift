/// Reading a field's text out of its record, for the rare paths that need a `String`.
public enum TextField {
    public static func string(_ span: Span, in record: UnsafeRawBufferPointer) -> String {
        guard span.isPresent, span.range.upperBound <= record.count else { return "" }
        let bytes = UnsafeRawBufferPointer(rebasing: record[span.range])
        var out: [UInt8] = []
        switch span.encoding {
        case .plain:
            return String(decoding: bytes, as: UTF8.self)
        case .jsonEscaped:
            guard ValueParsing.unescapeJSON(bytes, into: &out) else { return String(decoding: bytes, as: UTF8.self) }
        case .csvQuoted:
            ValueParsing.unescapeCSV(bytes, into: &out)
        }
        return String(decoding: out, as: UTF8.self)
    }
}
