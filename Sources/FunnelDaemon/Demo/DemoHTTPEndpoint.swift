import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The operations endpoint (`/metrics`, `/healthz`, `/readyz`) for the demo.
///
/// Unlike `run`, where a taken port must fail the start (two daemons on one port is a deployment
/// error), a demo is run on laptops next to other things: when the configured port is in use the
/// endpoint moves to a free port chosen by the kernel and the address is printed. It is bound
/// before the service group starts so the first lines of output can name it. Any other bind
/// failure leaves the demo running without the endpoint (logged), since the view does not need it.
struct DemoHTTPEndpoint: Service {
    let server: HTTPServer
    let address: HTTPServer.BoundAddress
    private let logger: Logger

    /// - Returns: nil when no port could be bound at all.
    static func start(host: String, port: Int, logger: Logger, handler: @escaping HTTPServer.Handler) -> DemoHTTPEndpoint? {
        let preferred = HTTPServer(configuration: .init(host: host, port: port), logger: logger, handler: handler)
        do {
            let address = try preferred.start()
            return DemoHTTPEndpoint(server: preferred, address: address, logger: logger)
        } catch {
            guard error.operation == .bind, error.errno == EADDRINUSE, port != 0 else {
                logger.warning("demo continues without the HTTP endpoint", metadata: ["error": "\(error)"])
                return nil
            }
            logger.warning("HTTP port in use; the demo endpoint takes a free port instead",
                           metadata: ["port": "\(port)"])
        }
        let fallback = HTTPServer(configuration: .init(host: host, port: 0), logger: logger, handler: handler)
        do {
            let address = try fallback.start()
            return DemoHTTPEndpoint(server: fallback, address: address, logger: logger)
        } catch {
            logger.warning("demo continues without the HTTP endpoint", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Already listening; runs until graceful shutdown (it is the first service, so the last to stop).
    func run() async throws {
        logger.info("HTTP endpoint listening", metadata: ["address": "\(address)"])
        try? await gracefulShutdown()
        await server.shutdown()
        logger.info("HTTP endpoint stopped", metadata: ["address": "\(address)"])
    }

    var metricsURL: String {
        let host = address.host.contains(":") ? "[\(address.host)]" : address.host
        return "http://\(host):\(address.port)/metrics"
    }
}
