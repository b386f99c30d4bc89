/// Which librdkafka properties hold credentials, so their values never reach a log line or an
/// error message (the daemon's config dump and ``KafkaError`` texts alike).
public enum KafkaSecrets {
    /// What a secret value is shown as.
    public static let redacted = "***"

    /// Fragments of property names whose values are secret: SASL passwords and JAAS configs,
    /// OAUTHBEARER client secrets and its config string (may carry credentials), private keys
    /// and key/keystore passwords (`ssl.key.*`), tokens.
    static let fragments = ["password", "secret", "sasl.jaas", "sasl.oauthbearer.config", "ssl.key", "token",
                            "credential"]

    public static func isSecret(_ key: String) -> Bool {
        let lowered = key.lowercased()
        return fragments.contains { lowered.contains($0) }
    }

    /// `value`, or ``redacted`` when `key` names a secret.
    public static func display(_ key: String, _ value: String) -> String {
        isSecret(key) ? redacted : value
    }
}
