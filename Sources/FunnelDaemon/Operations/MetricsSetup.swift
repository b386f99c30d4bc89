import Metrics
import Prometheus

/// Wires swift-metrics to a Prometheus registry that `/metrics` renders.
///
/// Library code in FunnelPulse only emits through swift-metrics; which backend receives the values
/// is decided here, once. Tests and benchmarks use ``init(registry:)`` and pass ``factory``
/// explicitly (or through `withMetricsFactory`) so they never touch the process-wide
/// `MetricsSystem`, which can be bootstrapped only once per process.
public struct MetricsSetup: Sendable {
    /// What `/metrics` renders.
    public let registry: PrometheusCollectorRegistry
    /// A factory writing into ``registry``, for `Counter(label:dimensions:factory:)` and friends.
    public let factory: PrometheusMetricsFactory

    /// A registry and factory with no global side effects.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.factory = PrometheusMetricsFactory(registry: registry)
    }

    /// Creates a registry and makes it the process-wide `MetricsSystem` backend.
    ///
    /// Call from `main` only, exactly once: `MetricsSystem.bootstrap` traps on a second call.
    /// - Returns: the registry to hand to ``OperationsEndpoints``.
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let setup = MetricsSetup()
        MetricsSystem.bootstrap(setup.factory)
        return setup.registry
    }
}
