import Logging
import ServiceLifecycle

/// Runs an ``HTTPServer`` as part of the daemon's `ServiceGroup`.
///
/// The server binds when the service starts, not when it is constructed, so a port conflict
/// fails the group at startup with the address in the error. It stops on graceful shutdown or
/// cancellation; because services shut down in reverse start order, registering this service
/// first keeps `/metrics` and `/readyz` answering while the pipeline drains.
public struct HTTPService: Service {
    public let server: HTTPServer
    private let logger: Logger

    public init(server: HTTPServer, logger: Logger) {
        self.server = server
        self.logger = logger
    }

    public init(configuration: HTTPServer.Configuration, logger: Logger, handler: @escaping HTTPServer.Handler) {
        self.init(server: HTTPServer(configuration: configuration, logger: logger, handler: handler), logger: logger)
    }

    public func run() async throws {
        let address = try server.start()
        logger.info("HTTP endpoint listening", metadata: ["address": "\(address)"])
        do {
            try await gracefulShutdown()
        } catch is CancellationError {
            // Cancellation (e.g. another service failed) stops the endpoint the same way.
        }
        await server.shutdown()
        logger.info("HTTP endpoint stopped", metadata: ["address": "\(address)"])
    }
}
