/// SHA-256 (FIPS 180-4), for keyed pseudonyms (``HMACSHA256``). No Foundation, no heap: the
/// state is a `SIMD8<UInt32>`, the partial block and the message schedule live on the stack.
///
/// Not a general crypto library: it exists because swift-crypto is not a dependency and user ids
/// must be pseudonymized with a keyed hash. Checked against the FIPS 180-4 examples and the
/// NIST one-million-`a` vector (`SHA256Tests`).
public struct SHA256: Sendable {
    /// A 256-bit digest as eight big-endian words (`words[0]` holds the first four bytes).
    public struct Digest: Sendable, Equatable, Hashable {
        public var words: SIMD8<UInt32>

        public init(words: SIMD8<UInt32>) { self.words = words }

        /// The 32 digest bytes.
        public var bytes: [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(32)
            for i in 0..<8 {
                let w = words[i]
                out.append(UInt8(truncatingIfNeeded: w >> 24))
                out.append(UInt8(truncatingIfNeeded: w >> 16))
                out.append(UInt8(truncatingIfNeeded: w >> 8))
                out.append(UInt8(truncatingIfNeeded: w))
            }
            return out
        }

        /// Lowercase hex of the first `count` bytes (`count` ≤ 32), written to `out`, which must
        /// hold `2 * count` bytes.
        public func writeHex(_ count: Int, into out: UnsafeMutableRawBufferPointer) {
            let n = min(max(count, 0), 32, out.count / 2)
            var j = 0
            for i in 0..<n {
                let byte = UInt8(truncatingIfNeeded: words[i >> 2] >> UInt32(24 - 8 * (i & 3)))
                out[j] = SHA256.hexDigit(byte >> 4)
                out[j + 1] = SHA256.hexDigit(byte & 15)
                j += 2
            }
        }

        /// Lowercase hex of all 32 bytes.
        public var hex: String {
            String(unsafeUninitializedCapacity: 64) { buffer in
                writeHex(32, into: UnsafeMutableRawBufferPointer(buffer))
                return 64
            }
        }
    }

    static let initial = SIMD8<UInt32>(
        0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19)

    static let k: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]

    @inline(__always)
    static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 + nibble : 0x57 + nibble }

    private(set) var state: SIMD8<UInt32>
    /// Message bytes absorbed so far (including any midstate's block).
    private(set) var length: UInt64
    /// The partial block (`length % 64` bytes of it are pending).
    private var pending: SIMD64<UInt8> = .zero

    public init() {
        state = Self.initial
        length = 0
    }

    /// Resumes from a state reached after `length` bytes (a multiple of 64): HMAC's precomputed
    /// inner and outer key blocks.
    init(midstate: SIMD8<UInt32>, length: UInt64) {
        state = midstate
        self.length = length
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        var offset = 0
        let used = Int(length & 63)
        length &+= UInt64(bytes.count)
        if used > 0 {
            let take = min(64 - used, bytes.count)
            withUnsafeMutableBytes(of: &pending) { block in
                UnsafeMutableRawBufferPointer(rebasing: block[used..<(used + take)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<take]))
            }
            offset = take
            guard used + take == 64 else { return }
            let block = pending
            withUnsafeBytes(of: block) { Self.compress(&state, $0, at: 0) }
        }
        while bytes.count - offset >= 64 {
            Self.compress(&state, bytes, at: offset)
            offset += 64
        }
        if offset < bytes.count {
            let rest = bytes.count - offset
            withUnsafeMutableBytes(of: &pending) { block in
                UnsafeMutableRawBufferPointer(rebasing: block[0..<rest])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            }
        }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Pads, processes the last block(s) and returns the digest.
    public mutating func finalize() -> Digest {
        let bitLength = length &* 8
        let used = Int(length & 63)
        var state = self.state
        withUnsafeMutableBytes(of: &pending) { block in
            block[used] = 0x80
            if used + 1 > 56 {
                if used + 1 < 64 { UnsafeMutableRawBufferPointer(rebasing: block[(used + 1)...]).initializeMemory(as: UInt8.self, repeating: 0) }
                Self.compress(&state, UnsafeRawBufferPointer(block), at: 0)
                UnsafeMutableRawBufferPointer(rebasing: block[0..<56]).initializeMemory(as: UInt8.self, repeating: 0)
            } else if used + 1 < 56 {
                UnsafeMutableRawBufferPointer(rebasing: block[(used + 1)..<56]).initializeMemory(as: UInt8.self, repeating: 0)
            }
            block.storeBytes(of: bitLength.bigEndian, toByteOffset: 56, as: UInt64.self)
            Self.compress(&state, UnsafeRawBufferPointer(block), at: 0)
        }
        self.state = state
        return Digest(words: state)
    }

    public static func hash(_ bytes: UnsafeRawBufferPointer) -> Digest {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    public static func hash(_ bytes: [UInt8]) -> Digest {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// The 64-byte block at `offset` of `bytes` into `state` (callers pass whole blocks only).
    @inline(__always)
    static func compress(_ state: inout SIMD8<UInt32>, _ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard offset >= 0, bytes.count - offset >= 64 else { return }
        k.withUnsafeBufferPointer { k in
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
                for t in 0..<16 {
                    w[t] = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset + 4 * t, as: UInt32.self))
                }
                for t in 16..<64 {
                    let a = w[t - 15], b = w[t - 2]
                    let s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a &>> 3)
                    let s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b &>> 10)
                    w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
                }
                var a = state[0], b = state[1], c = state[2], d = state[3]
                var e = state[4], f = state[5], g = state[6], h = state[7]
                // Eight rounds per step with the roles rotated through the arguments: no variable
                // shuffling between rounds (which the optimizer otherwise turns into vector moves).
                var t = 0
                while t < 64 {
                    round(a, b, c, &d, e, f, g, &h, k[t] &+ w[t])
                    round(h, a, b, &c, d, e, f, &g, k[t + 1] &+ w[t + 1])
                    round(g, h, a, &b, c, d, e, &f, k[t + 2] &+ w[t + 2])
                    round(f, g, h, &a, b, c, d, &e, k[t + 3] &+ w[t + 3])
                    round(e, f, g, &h, a, b, c, &d, k[t + 4] &+ w[t + 4])
                    round(d, e, f, &g, h, a, b, &c, k[t + 5] &+ w[t + 5])
                    round(c, d, e, &f, g, h, a, &b, k[t + 6] &+ w[t + 6])
                    round(b, c, d, &e, f, g, h, &a, k[t + 7] &+ w[t + 7])
                    t += 8
                }
                state &+= SIMD8(a, b, c, d, e, f, g, h)
            }
        }
    }

    /// One round: `d` += T1, `h` = T1 + T2 (FIPS 180-4 §6.2.2 step 3 with the renaming folded
    /// into the caller's argument order).
    @inline(__always)
    static func round(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: inout UInt32,
                      _ e: UInt32, _ f: UInt32, _ g: UInt32, _ h: inout UInt32, _ kw: UInt32) {
        let t1 = h &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ kw
        let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) ^ (a & c) ^ (b & c))
        d &+= t1
        h = t1 &+ t2
    }

    @inline(__always)
    static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x &>> n) | (x &<< (32 &- n)) }
}

/// HMAC-SHA256 (RFC 2104) with the key's inner and outer blocks compressed once at init, so each
/// message costs two or more compressions and no allocation. Checked against RFC 4231.
public struct HMACSHA256: Sendable {
    private let inner: SIMD8<UInt32>
    private let outer: SIMD8<UInt32>

    public init(key: UnsafeRawBufferPointer) {
        var block = SIMD64<UInt8>.zero
        if key.count > 64 {
            let digest = SHA256.hash(key).bytes
            for i in 0..<32 { block[i] = digest[i] }
        } else {
            for i in 0..<key.count { block[i] = key[i] }
        }
        var inner = SHA256.initial
        var outer = SHA256.initial
        let ipad = block ^ SIMD64(repeating: 0x36)
        let opad = block ^ SIMD64(repeating: 0x5c)
        withUnsafeBytes(of: ipad) { SHA256.compress(&inner, $0, at: 0) }
        withUnsafeBytes(of: opad) { SHA256.compress(&outer, $0, at: 0) }
        self.inner = inner
        self.outer = outer
    }

    public init(key: [UInt8]) {
        self = key.withUnsafeBytes { HMACSHA256(key: $0) }
    }

    public func authenticationCode(_ message: UnsafeRawBufferPointer) -> SHA256.Digest {
        var hasher = SHA256(midstate: inner, length: 64)
        hasher.update(message)
        let innerDigest = hasher.finalize()
        var outerHasher = SHA256(midstate: outer, length: 64)
        var bigEndian = SIMD8<UInt32>()
        for i in 0..<8 { bigEndian[i] = innerDigest.words[i].bigEndian }
        withUnsafeBytes(of: bigEndian) { outerHasher.update($0) }
        return outerHasher.finalize()
    }

    public func authenticationCode(_ message: [UInt8]) -> SHA256.Digest {
        message.withUnsafeBytes { authenticationCode($0) }
    }
}
