/// UTF-8 validity check with an ASCII fast path (32, then 8 bytes at a time).
enum UTF8Validation {
    @inline(__always)
    static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let n = bytes.count
        var i = 0
        // Records are mostly ASCII: test 32 bytes per branch, then 8.
        while i + 32 <= n {
            let any = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                | base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)
                | base.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self)
                | base.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self)
            if any & 0x8080_8080_8080_8080 != 0 { break }
            i += 32
        }
        while i + 8 <= n {
            if base.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { break }
            i += 8
        }
        let p = base.assumingMemoryBound(to: UInt8.self)
        while i < n {
            let b = p[i]
            if b < 0x80 {
                i += 1
                continue
            }
            var need = 0
            var minCode: UInt32 = 0
            var code: UInt32 = 0
            if b & 0xE0 == 0xC0 {
                need = 1; minCode = 0x80; code = UInt32(b & 0x1F)
            } else if b & 0xF0 == 0xE0 {
                need = 2; minCode = 0x800; code = UInt32(b & 0x0F)
            } else if b & 0xF8 == 0xF0 {
                need = 3; minCode = 0x10000; code = UInt32(b & 0x07)
            } else {
                return false
            }
            guard i + need < n else { return false }
            for k in 1...need {
                let c = p[i + k]
                guard c & 0xC0 == 0x80 else { return false }
                code = (code << 6) | UInt32(c & 0x3F)
            }
            guard code >= minCode, code <= 0x10FFFF, !(0xD800...0xDFFF).contains(code) else { return false }
            i += need + 1
        }
        return true
    }
}
