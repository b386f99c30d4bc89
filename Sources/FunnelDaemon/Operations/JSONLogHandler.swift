import Logging

/// A swift-log handler that writes one JSON object per line, for log collectors that parse JSON
/// (Loki, Elasticsearch, Cloud Logging) without fragile regexes.
///
/// Each line carries `ts` (ISO-8601 UTC, milliseconds), `level`, `label`, `message`, `source`,
/// then every metadata key as its own top-level field; nested metadata stays nested JSON. A
/// metadata key that collides with one of those five is written as `metadata.<key>` so it cannot
/// overwrite them. Output is produced as a complete line and handed to the sink in one call, which
/// keeps concurrent log lines from interleaving.
public struct JSONLogHandler: LogHandler {
    /// Receives one complete line, including its trailing `"\n"`. Must be thread-safe.
    public typealias Sink = @Sendable (_ line: String) -> Void

    /// The default sink: unbuffered, locked writes to standard error.
    public static let standardError: Sink = { line in StandardErrorWriter.writeLine(line) }

    private static let reservedKeys: Set<String> = ["ts", "level", "label", "message", "source"]

    public let label: String
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let sink: Sink
    private let clock: @Sendable () -> String

    public init(
        label: String,
        metadataProvider: Logger.MetadataProvider? = nil,
        sink: @escaping Sink = JSONLogHandler.standardError
    ) {
        self.init(label: label, metadataProvider: metadataProvider, sink: sink, clock: { JSONLogEncoder.timestamp() })
    }

    /// Lets tests pin the timestamp.
    init(
        label: String,
        metadataProvider: Logger.MetadataProvider?,
        sink: @escaping Sink,
        clock: @escaping @Sendable () -> String
    ) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.sink = sink
        self.clock = clock
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var encoder = JSONLogEncoder()
        encoder.field("ts", string: clock())
        encoder.field("level", string: event.level.rawValue)
        encoder.field("label", string: label)
        encoder.field("message", string: event.message.description)
        encoder.field("source", string: event.source)

        let merged = mergedMetadata(event)
        for key in merged.keys.sorted() {
            guard let value = merged[key] else { continue }
            let outputKey = Self.reservedKeys.contains(key) ? "metadata.\(key)" : key
            encoder.field(outputKey, metadata: value)
        }
        sink(encoder.finish())
    }

    /// Handler metadata, then provider, then per-call metadata: the most specific wins, matching
    /// swift-log's own `StreamLogHandler`.
    private func mergedMetadata(_ event: LogEvent) -> Logger.Metadata {
        var merged = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty {
            merged.merge(provided) { _, new in new }
        }
        if let explicit = event.metadata, !explicit.isEmpty {
            merged.merge(explicit) { _, new in new }
        }
        if let error = event.error {
            merged["error.message"] = .string("\(error)")
            merged["error.type"] = .string(String(reflecting: type(of: error)))
        }
        return merged
    }
}
