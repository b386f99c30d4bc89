import FunnelFuzzSupport

// The libFuzzer target of every decoder shape (see FunnelFuzzSupport/HostileInputHarness.swift);
// FUNNELPULSE_FUZZ_SHAPE picks one: json-canonical, json-paths, csv-taobao or csv-header.
// scripts/fuzz.sh builds it with `--sanitize fuzzer -Xswiftc -DFUNNELPULSE_LIBFUZZER` and runs it
// once per shape, each with its own corpus; libFuzzer then supplies main(). A normal build runs
// the files given on the command line through the chosen shape's checks instead.

nonisolated(unsafe) private var harness = FuzzEntry.harness(FuzzEntry.shapeFromEnvironment())

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzEntry.testOneInput(&harness, data, size)
}

#if !FUNNELPULSE_LIBFUZZER
@main
enum CorpusRunner {
    static func main() { FuzzEntry.runCorpus(FuzzEntry.shapeFromEnvironment()) }
}
#endif
