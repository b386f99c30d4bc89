#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The C library's elementary functions, in one place so the model code stays free of imports.
enum MathShim {
    @inline(__always) static func log1p(_ x: Double) -> Double { Glibc_log1p(x) }
    @inline(__always) static func log(_ x: Double) -> Double { Glibc_log(x) }
    @inline(__always) static func exp(_ x: Double) -> Double { Glibc_exp(x) }
    @inline(__always) static func exp2(_ x: Double) -> Double { Glibc_exp2(x) }

    /// Logistic function with the margin clamped so exp cannot overflow.
    @inline(__always)
    static func sigmoid(_ margin: Double) -> Double {
        let m = min(max(margin, -35), 35)
        return 1 / (1 + exp(-m))
    }

    @inline(__always)
    static func logit(_ p: Double) -> Double { log(p / (1 - p)) }
}

@inline(__always) private func Glibc_log1p(_ x: Double) -> Double { log1p(x) }
@inline(__always) private func Glibc_log(_ x: Double) -> Double { log(x) }
@inline(__always) private func Glibc_exp(_ x: Double) -> Double { exp(x) }
@inline(__always) private func Glibc_exp2(_ x: Double) -> Double { exp2(x) }
