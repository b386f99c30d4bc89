extension FunnelPulseConfig.HTTP {
    /// What `run` hands the operations endpoint: `http.host` (127.0.0.1 unless configured
    /// otherwise: metrics and probes stay on loopback) and `http.port`.
    public var serverConfiguration: HTTPServer.Configuration {
        HTTPServer.Configuration(host: host, port: port)
    }
}
