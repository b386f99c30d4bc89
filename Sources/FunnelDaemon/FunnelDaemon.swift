/// FunnelDaemon: services, configuration, drivers (replay, run, demo), HTTP and metrics.
