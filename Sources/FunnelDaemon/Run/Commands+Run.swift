import FunnelCore
import Logging
import Prometheus
import ServiceLifecycle

extension Commands {
    /// Loads and validates the configuration for `run` (before logging is bootstrapped, so the
    /// executable can pick the log format from it).
    public static func loadRunConfig(path: String) throws -> FunnelPulseConfig {
        try ConfigLoader.loadConfig(path: path)
    }

    /// Installs the process-wide log handler from the `log` section. Call once, from `main`.
    public static func bootstrapLogging(_ log: FunnelPulseConfig.Log) {
        LoggingSetup.bootstrap(
            format: LogFormat(rawValue: log.format) ?? .json,
            level: Logger.Level(rawValue: log.level) ?? .info)
    }

    /// `funnelpulse run`: the pipeline and the operations endpoint in one `ServiceGroup`, until
    /// SIGTERM/SIGINT. Expects logging and metrics to be bootstrapped already.
    /// - Parameter registry: what `/metrics` renders (from ``MetricsSetup/bootstrap()``).
    /// - Throws: when the pipeline could not start or had to stop (e.g. an output it could not
    ///   deliver); the process should then exit non-zero.
    public static func run(config: FunnelPulseConfig, registry: PrometheusCollectorRegistry) async throws {
        let logger = Logger(label: "funnelpulse")
        logger.info("starting funnelpulse run", metadata: ConfigRedaction.metadata(config))
        let mappings = try config.inputs.map { input in
            input.mapping.isEmpty ? try CompiledMapping(.canonicalJSON) : try ConfigLoader.loadMapping(path: input.mapping)
        }
        let pipeline = try Pipeline(config: config, mappings: mappings, logger: logger, metrics: PipelineMetrics())
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if config.http.enabled {
            let endpoints = OperationsEndpoints(registry: registry, readiness: { pipeline.health.readiness() })
            let http = HTTPService(
                configuration: config.http.serverConfiguration,
                logger: logger, handler: endpoints.handler)
            // First in, last out: probes and metrics keep answering while the pipeline drains.
            services.append(.init(service: http))
        }
        services.append(.init(service: PipelineService(pipeline: pipeline),
                              successTerminationBehavior: .gracefullyShutdownGroup))
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        configuration.maximumGracefulShutdownDuration = .milliseconds(Int(config.shutdownGraceSeconds * 1000) + 5000)
        try await ServiceGroup(configuration: configuration).run()
        logger.info("funnelpulse run finished")
    }
}
