import Prometheus

/// The routes every FunnelPulse process serves: `/metrics`, `/healthz` and `/readyz`.
///
/// Liveness and readiness are separate on purpose: `/healthz` only proves the process can still
/// answer (a failing liveness probe restarts the pod), while `/readyz` reflects whether the daemon
/// should receive traffic right now (e.g. still replaying, or the broker is unreachable) and must
/// not cause restarts.
public struct OperationsEndpoints: Sendable {
    /// Prometheus text exposition format 0.0.4, the format every Prometheus server accepts.
    public static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

    public let registry: PrometheusCollectorRegistry
    private let readiness: @Sendable () -> (ready: Bool, reason: String)

    /// - Parameters:
    ///   - registry: rendered by `/metrics`.
    ///   - readiness: called on every `/readyz`; must be cheap and non-blocking (read a snapshot).
    public init(
        registry: PrometheusCollectorRegistry,
        readiness: @escaping @Sendable () -> (ready: Bool, reason: String)
    ) {
        self.registry = registry
        self.readiness = readiness
    }

    /// Answers one request path; `nil` lets the server reply 404.
    public func respond(to path: String) -> HTTPResponse? {
        switch path {
        case "/metrics":
            return HTTPResponse(status: 200, contentType: Self.metricsContentType, body: registry.emitToBuffer())
        case "/healthz":
            return .text("ok")
        case "/readyz":
            let state = readiness()
            if state.ready {
                return .text("ready")
            }
            let reason = state.reason.isEmpty ? "not ready" : state.reason
            return .text(Self.singleLine(reason), status: 503)
        default:
            return nil
        }
    }

    /// The routes as an ``HTTPServer/Handler``.
    public var handler: HTTPServer.Handler {
        let endpoints = self
        return { path in endpoints.respond(to: path) }
    }

    /// Keeps a reason like an error description to one bounded line for probe logs.
    private static func singleLine(_ text: String) -> String {
        let flattened = text.map { $0.isNewline ? " " : $0 }
        return String(flattened.prefix(512))
    }
}
