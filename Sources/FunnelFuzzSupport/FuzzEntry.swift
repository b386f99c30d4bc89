import FunnelCore
import Foundation

/// What the fuzz executables share: the libFuzzer callback body and, in a normal build (without
/// `-sanitize=fuzzer`), a corpus runner with the same checks.
public enum FuzzEntry {
    /// The shape named by `FUNNELPULSE_FUZZ_SHAPE`, or the process stops with the list of shapes.
    public static func shapeFromEnvironment() -> FuzzShape {
        let name = ProcessInfo.processInfo.environment["FUNNELPULSE_FUZZ_SHAPE"] ?? ""
        guard let shape = FuzzShape(rawValue: name) else {
            let known = FuzzShape.allCases.map(\.rawValue).joined(separator: ", ")
            print("FUNNELPULSE_FUZZ_SHAPE must name a decoder shape (\(known)); got '\(name)'")
            exit(2)
        }
        return shape
    }

    /// Builds the harness or stops the process (a fuzz target cannot run without its mapping).
    public static func harness(_ shape: FuzzShape) -> HostileInputHarness {
        do {
            return try HostileInputHarness(shape: shape)
        } catch {
            fatalError("\(shape.rawValue): cannot set up the harness: \(error)")
        }
    }

    /// The body of `LLVMFuzzerTestOneInput`: a broken invariant stops the process, which libFuzzer
    /// reports as a crash and saves the input for.
    public static func testOneInput(_ harness: inout HostileInputHarness, _ data: UnsafePointer<UInt8>?, _ size: Int)
        -> CInt
    {
        do {
            try harness.run(UnsafeRawBufferPointer(start: size > 0 ? data : nil, count: size))
        } catch {
            fatalError("\(harness.shape.rawValue): invariant violated: \(error.message)")
        }
        return 0
    }

    /// `main` of a fuzz executable built without libFuzzer: runs every file named on the command
    /// line (directories: every file inside, sorted) through the harness, like a libFuzzer binary
    /// given files. Prints the outcome counts; exits 1 on the first broken invariant.
    public static func runCorpus(_ shape: FuzzShape, arguments: [String] = CommandLine.arguments) -> Never {
        let paths = arguments.dropFirst()
        guard !paths.isEmpty else {
            print("usage: \(arguments.first ?? "fuzz") FILE|DIR...")
            print("Built without -sanitize=fuzzer: runs the given inputs through the \(shape.rawValue) checks.")
            print("Fuzzing needs the libFuzzer build: scripts/fuzz.sh")
            exit(2)
        }
        var files: [String] = []
        let fm = FileManager.default
        for path in paths {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
                print("\(path): no such file")
                exit(2)
            }
            if isDirectory.boolValue {
                let names = (try? fm.contentsOfDirectory(atPath: path)) ?? []
                files += names.sorted().map { path + "/" + $0 }
            } else {
                files.append(path)
            }
        }
        var harness = harness(shape)
        for file in files {
            guard let data = fm.contents(atPath: file) else { continue }
            do {
                try harness.run(Array(data))
            } catch {
                print("\(file): invariant violated: \(error.message)")
                exit(1)
            }
        }
        let t = harness.totals
        print("\(shape.rawValue): \(files.count) inputs, \(t.records) records: \(t.accepted) accepted, "
            + "\(t.duplicates) duplicates, \(t.rejectedTotal) rejected, \(t.skipped) skipped; all invariants held")
        exit(0)
    }
}
