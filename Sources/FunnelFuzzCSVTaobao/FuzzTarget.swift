import FunnelFuzzSupport

// libFuzzer target for the .csvHeadless decoder shape (see FunnelFuzzSupport/HostileInputHarness.swift).
// scripts/fuzz.sh builds it with `--sanitize fuzzer -Xswiftc -DFUNNELPULSE_LIBFUZZER`; libFuzzer then
// supplies main(). A normal build runs the files given on the command line instead.

nonisolated(unsafe) private var harness = FuzzEntry.harness(.csvHeadless)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzEntry.testOneInput(&harness, data, size)
}

#if !FUNNELPULSE_LIBFUZZER
@main
enum CorpusRunner {
    static func main() { FuzzEntry.runCorpus(.csvHeadless) }
}
#endif
