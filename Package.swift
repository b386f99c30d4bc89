// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "FunnelPulse",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "funnelpulse", targets: ["funnelpulse"]),
        .executable(name: "funnelpulse-bench", targets: ["FunnelBench"]),
        // The libFuzzer target of every decoder shape (FUNNELPULSE_FUZZ_SHAPE picks one);
        // scripts/fuzz.sh builds it with -sanitize=fuzzer.
        .executable(name: "fuzz-decoders", targets: ["FunnelFuzzDecoders"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        // librdkafka, as Debian ships it (apt: librdkafka-dev).
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // jemalloc (apt: libjemalloc-dev): the process allocator of every binary that links the daemon
        // module, for librdkafka's per-message allocations (see ProcessAllocator).
        .systemLibrary(
            name: "CJemalloc",
            pkgConfig: "jemalloc",
            providers: [.apt(["libjemalloc-dev"])]
        ),
        // Cache prefetch hints for the engine's hash-table probes (header-only C).
        .target(name: "CPrefetch"),
        // The engine: decoding, event time, windows, funnels, model, labels, detectors. No I/O.
        .target(name: "FunnelCore", dependencies: ["CPrefetch"]),
        // The only module that touches librdkafka's C API.
        .target(
            name: "FunnelKafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Services, configuration, replay/run/demo drivers, HTTP endpoint, metrics.
        .target(
            name: "FunnelDaemon",
            dependencies: [
                "FunnelCore",
                "FunnelKafka",
                "CJemalloc",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "funnelpulse",
            dependencies: [
                "FunnelDaemon",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "FunnelBench",
            dependencies: [
                "FunnelCore",
                "FunnelDaemon",
                "FunnelFuzzSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Hostile input: invariant checks and mutated streams, shared by the fuzz targets, the
        // hostile-input tests and `funnelpulse-bench hostile`.
        .target(name: "FunnelFuzzSupport", dependencies: ["FunnelCore"]),
        .executableTarget(name: "FunnelFuzzDecoders", dependencies: ["FunnelFuzzSupport"]),
        // Fixtures shared by the daemon tests and the broker integration tests.
        .target(
            name: "FunnelTestSupport",
            dependencies: [
                "FunnelDaemon", "FunnelKafka", "FunnelCore",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/FunnelTestSupport"
        ),
        .testTarget(name: "FunnelCoreTests", dependencies: ["FunnelCore"]),
        .testTarget(name: "FunnelKafkaTests", dependencies: ["FunnelKafka"]),
        .testTarget(name: "FunnelDaemonTests", dependencies: ["FunnelDaemon", "FunnelCore", "FunnelKafka", "FunnelTestSupport"]),
        .testTarget(name: "HostileInputTests", dependencies: ["FunnelCore", "FunnelDaemon", "FunnelFuzzSupport"]),
        .testTarget(
            name: "IntegrationTests", dependencies: ["FunnelDaemon", "FunnelKafka", "FunnelCore", "FunnelTestSupport"]),
    ]
)
