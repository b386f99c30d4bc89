extension HTTPServer {
    /// Where the operations endpoint listens and how patient it is with clients.
    ///
    /// Every field has a default so the daemon can run with no HTTP section in its config file.
    public struct Configuration: Sendable, Equatable {
        /// Loopback by default: metrics and probes should not be exposed unless asked for.
        public var host: String
        /// `9464` is the port Prometheus exporters conventionally use; `0` picks an ephemeral one.
        public var port: Int
        /// Upper bound on request line plus headers; larger heads get a 431.
        public var maxHeaderBytes: Int
        /// Total time a client gets to send its request head.
        public var receiveTimeout: Duration
        /// Bound on each blocked `send` while writing the response.
        public var sendTimeout: Duration
        /// How long to drain a client's leftover bytes after responding before closing.
        public var lingerTimeout: Duration
        public var backlog: Int32

        public init(
            host: String = "127.0.0.1",
            port: Int = 9464,
            maxHeaderBytes: Int = 8192,
            receiveTimeout: Duration = .seconds(2),
            sendTimeout: Duration = .seconds(2),
            lingerTimeout: Duration = .milliseconds(500),
            backlog: Int32 = 64
        ) {
            self.host = host
            self.port = port
            self.maxHeaderBytes = maxHeaderBytes
            self.receiveTimeout = receiveTimeout
            self.sendTimeout = sendTimeout
            self.lingerTimeout = lingerTimeout
            self.backlog = backlog
        }
    }

    /// The address the listener actually bound, with the real port when `0` was requested.
    public struct BoundAddress: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        public var description: String {
            host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}
