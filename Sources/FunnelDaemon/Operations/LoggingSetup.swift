import Logging

/// The one place that decides where FunnelPulse logs go.
///
/// Modules only ever accept a `Logger`; choosing handlers is the executable's job, done once at
/// startup before any `Logger` is created so that every label picks up the same backend.
public enum LoggingSetup {
    /// Makes the handler for `label` without touching global state (for tests and tools).
    public static func makeHandler(
        label: String,
        format: LogFormat,
        level: Logger.Level,
        metadataProvider: Logger.MetadataProvider? = nil
    ) -> any LogHandler {
        switch format {
        case .json:
            var handler = JSONLogHandler(label: label, metadataProvider: metadataProvider)
            handler.logLevel = level
            return handler
        case .text:
            var handler = StreamLogHandler.standardError(label: label, metadataProvider: metadataProvider)
            handler.logLevel = level
            return handler
        }
    }

    /// Installs the process-wide log handler factory.
    ///
    /// Call from `main` only, exactly once: `LoggingSystem.bootstrap` traps on a second call.
    public static func bootstrap(
        format: LogFormat,
        level: Logger.Level,
        metadataProvider: Logger.MetadataProvider? = nil
    ) {
        LoggingSystem.bootstrap(
            { label, provider in
                makeHandler(label: label, format: format, level: level, metadataProvider: provider)
            },
            metadataProvider: metadataProvider
        )
    }
}
