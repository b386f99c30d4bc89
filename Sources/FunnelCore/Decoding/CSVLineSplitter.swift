/// RFC 4180 field splitting of one CSV line (no embedded newlines: one record per line).
enum CSVLineSplitter {
    /// Calls `field(columnIndex, span)` per field; `span` excludes the quotes of a quoted field.
    /// Stops early when `field` returns false (no further mapped columns).
    @inline(__always)
    static func split(
        _ line: UnsafeRawBufferPointer, delimiter: UInt8,
        field: (Int, Span) -> Bool, onError: (DecodeFailure) -> Void
    ) {
        let n = line.count
        var i = 0
        var column = 0
        while true {
            if i < n && line[i] == UInt8(ascii: "\"") {
                let start = i + 1
                var j = start
                var closed = false
                while j < n {
                    if line[j] == UInt8(ascii: "\"") {
                        if j + 1 < n && line[j + 1] == UInt8(ascii: "\"") {
                            j += 2
                            continue
                        }
                        closed = true
                        break
                    }
                    j += 1
                }
                guard closed else {
                    onError(DecodeFailure(.malformedCSV, "unterminated quoted field", at: i))
                    return
                }
                guard j + 1 == n || line[j + 1] == delimiter else {
                    onError(DecodeFailure(.malformedCSV, "bytes after a closing quote", at: j + 1))
                    return
                }
                if !field(column, Span(start: start, count: j - start, encoding: .csvQuoted)) { return }
                i = j + 1
            } else {
                let start = i
                while i < n && line[i] != delimiter {
                    if line[i] == UInt8(ascii: "\"") {
                        onError(DecodeFailure(.malformedCSV, "quote inside an unquoted field", at: i))
                        return
                    }
                    i += 1
                }
                if !field(column, Span(start: start, count: i - start)) { return }
            }
            if i >= n { return }
            // i at a delimiter
            i += 1
            column += 1
            if i == n {
                _ = field(column, Span(start: n, count: 0))
                return
            }
        }
    }
}
