/// How the daemon renders its logs: `json` for collectors in production, `text` for people at a
/// terminal.
public enum LogFormat: String, Sendable, Codable, CaseIterable {
    case json
    case text
}
