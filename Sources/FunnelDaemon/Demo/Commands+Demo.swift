import CoreMetrics
import Foundation
import FunnelCore
import FunnelKafka
import Logging
import Prometheus
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a finished demo saw, counted after the view caught up with the last outputs.
public struct DemoReport: Sendable {
    public var bootstrapServers: String
    public var metricsURL: String?
    public var stats: DemoStats
    /// Input records the pipeline itself read, from its exit counters.
    public var pipelineRead: Int?
}

extension Commands {
    /// Text logs on standard error; only errors while the screen is redrawn, since anything else
    /// written to the terminal would tear the view. Call once, from `main`.
    public static func bootstrapDemoLogging(view: DemoOptions.View) {
        let screen = view == .automatic && StandardOutput.isTerminal
        LoggingSetup.bootstrap(format: .text, level: screen ? .error : .info)
    }

    /// `funnelpulse demo`: an in-process mock Kafka cluster, the simulator feeding its input topic,
    /// the full `run` pipeline on it, and a live view of what the pipeline publishes — all in one
    /// `ServiceGroup`, until `options.durationSeconds` pass or SIGINT/SIGTERM.
    ///
    /// Services stop in reverse start order, which is the order a clean stop needs: the feeder
    /// stops producing and flushes, the pipeline finishes its batch and commits, the view reads
    /// up to the last output, the HTTP endpoint goes last.
    /// - Parameters:
    ///   - registry: what `/metrics` renders; `metricsFactory` must write into it.
    ///   - output: where the view goes (tests collect it).
    /// - Throws: when the configuration is invalid or the pipeline had to stop (e.g. lost output).
    public static func demo(
        _ options: DemoOptions,
        registry: PrometheusCollectorRegistry,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        logger: Logger = Logger(label: "funnelpulse.demo"),
        output: DemoOutput = .standardOutput
    ) async throws -> DemoReport {
        try options.validate()
        let path = options.configPath ?? ""
        let loaded = try ConfigLoader.loadConfig(path: path)
        let cluster = try KafkaMockCluster(brokers: 1)
        let config = try demoConfig(loaded, file: path, bootstrapServers: cluster.bootstrapServers,
                                    httpPort: options.httpPort)
        let report = try await runDemo(options, config: config, cluster: cluster, registry: registry,
                                       metricsFactory: metricsFactory, logger: logger, output: output)
        // Every client of the run was released with the call above; only now may the brokers go,
        // or those clients' reconnect attempts would log errors against a closed port.
        withExtendedLifetime(cluster) {}
        output.write("demo stopped cleanly: \(report.stats.produced) events produced, "
                     + "\(report.pipelineRead.map(String.init) ?? "?") read by the pipeline, "
                     + "\(report.stats.scores) scores, \(report.stats.snapshots) funnel snapshots, "
                     + "\(report.stats.deadLetters) dead letters, \(report.stats.alerts) alerts\n")
        return report
    }

    /// The run itself; owns every Kafka client, so they are all gone when it returns.
    private static func runDemo(
        _ options: DemoOptions,
        config: FunnelPulseConfig,
        cluster: KafkaMockCluster,
        registry: PrometheusCollectorRegistry,
        metricsFactory: any MetricsFactory,
        logger: Logger,
        output: DemoOutput
    ) async throws -> DemoReport {
        // One partition each: event time runs ~1000× faster than the wall clock here, so even a few
        // milliseconds of interleaving between input partitions would be seconds of event-time
        // disorder, beyond the allowed lateness.
        for topic in config.inputs.map(\.topic) + config.outputs.all {
            try cluster.createTopic(topic, partitions: 1)
        }
        let pipeline = try Pipeline(
            config: config, mappings: [try CompiledMapping(.canonicalJSON)], logger: logger,
            metrics: PipelineMetrics(factory: metricsFactory))

        var endpoint: DemoHTTPEndpoint?
        if config.http.enabled {
            let endpoints = OperationsEndpoints(registry: registry, readiness: { pipeline.health.readiness() })
            endpoint = DemoHTTPEndpoint.start(host: config.http.host, port: config.http.port, logger: logger,
                                              handler: endpoints.handler)
        }
        defer { endpoint?.server.stop() }

        let board = DemoBoard()
        let screen = options.view == .automatic && StandardOutput.isTerminal
        let display = DemoDisplay(
            mode: screen ? .screen : .lines, interval: .milliseconds(Int(options.refreshSeconds * 1000)),
            board: board, health: pipeline.health, output: output,
            bootstrapServers: cluster.bootstrapServers, scoresTopic: config.outputs.scores,
            metricsURL: endpoint?.metricsURL)
        let reader = try DemoReader(
            bootstrapServers: cluster.bootstrapServers,
            topics: .init(scores: config.outputs.scores, funnel: config.outputs.funnel, alerts: config.outputs.alerts,
                          deadLetter: config.outputs.deadletter),
            board: board, logger: logger)
        let nowMilliseconds = Int64(Date().timeIntervalSince1970 * 1000)
        let feeder = try DemoFeeder(
            bootstrapServers: cluster.bootstrapServers, topic: config.inputs[0].topic,
            eventsPerSecond: options.eventsPerSecond, simulator: options.simulatorConfig(nowMilliseconds: nowMilliseconds),
            board: board, logger: logger, isConsumerReady: { pipeline.health.snapshot.assignedPartitions > 0 })

        output.write(introduction(config: config, bootstrapServers: cluster.bootstrapServers,
                                  metricsURL: endpoint?.metricsURL, options: options))

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let endpoint { services.append(.init(service: endpoint)) }
        services.append(.init(service: display))
        services.append(.init(service: reader))
        services.append(.init(service: PipelineService(pipeline: pipeline),
                              successTerminationBehavior: .gracefullyShutdownGroup))
        services.append(.init(service: feeder))
        if let seconds = options.durationSeconds {
            services.append(.init(service: DemoTimer(duration: .milliseconds(Int(seconds * 1000))),
                                  successTerminationBehavior: .gracefullyShutdownGroup))
        }
        var group = ServiceGroupConfiguration(services: services, logger: logger)
        if options.handlesSignals {
            group.gracefulShutdownSignals = [.sigterm, .sigint]
            // A reader of `funnelpulse demo | head` going away must not kill the process mid-commit.
            signal(SIGPIPE, SIG_IGN)
        }
        group.maximumGracefulShutdownDuration = .seconds(Int(config.shutdownGraceSeconds) + 20)

        try await ServiceGroup(configuration: group).run()
        return DemoReport(
            bootstrapServers: cluster.bootstrapServers, metricsURL: endpoint?.metricsURL, stats: board.stats,
            pipelineRead: pipeline.statsAtExit.map { Int($0.read) })
    }

    /// The daemon configuration the demo runs: the file's `engine`, `outputs` and `http` sections,
    /// everything Kafka-related set for the embedded mock cluster.
    static func demoConfig(_ loaded: FunnelPulseConfig, file: String, bootstrapServers: String,
                           httpPort: Int?) throws -> FunnelPulseConfig {
        var config = FunnelPulseConfig()
        config.engine = loaded.engine
        config.outputs = loaded.outputs
        config.http = loaded.http
        if let httpPort { config.http.port = httpPort }
        config.kafka.bootstrapServers = bootstrapServers
        config.kafka.groupID = "funnelpulse-demo"
        // The mock cluster has no CreateTopics; the demo creates its topics directly.
        config.kafka.createTopics = false
        config.kafka.topicPartitions = 1
        // Only properties every client accepts: this passthrough also reaches the producer, which
        // warns about consumer-only keys. The consumer's own defaults already use the range assignor.
        config.kafka.librdkafka = ["topic.metadata.refresh.interval.ms": "1000"]
        config.shutdownGraceSeconds = 5
        do {
            try config.validate()
        } catch {
            throw ConfigLoader.LoadError(file: file.isEmpty ? "(defaults)" : file, key: error.key, message: error.message)
        }
        return config
    }

    static func introduction(config: FunnelPulseConfig, bootstrapServers: String, metricsURL: String?,
                             options: DemoOptions) -> String {
        let duration = options.durationSeconds.map { "for \(DemoFormat.fixed($0, 0)) s" } ?? "until Ctrl-C"
        return """
            FunnelPulse demo: embedded Kafka (librdkafka mock cluster) at \(bootstrapServers)
              input  \(config.inputs[0].topic) ← simulator, \(DemoFormat.rate(options.eventsPerSecond)) events/s, \
            \(options.users) users, seed \(options.seed)
              output \(config.outputs.scores), \(config.outputs.funnel), \(config.outputs.alerts), \
            \(config.outputs.deadletter)
              watch  kcat -b \(bootstrapServers) -t \(config.outputs.scores) -C
              metrics \(metricsURL ?? "off")
              running \(duration)

            """
    }
}

/// Ends the demo after `--duration`: returning triggers the group's graceful shutdown.
struct DemoTimer: Service {
    let duration: Duration

    func run() async throws {
        try? await cancelWhenGracefulShutdown { [duration] in
            try await Task.sleep(for: duration)
        }
    }
}
