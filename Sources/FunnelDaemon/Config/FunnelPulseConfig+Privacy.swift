import FunnelCore

extension FunnelPulseConfig {
    /// `privacy`: user ids in outputs replaced by keyed pseudonyms (``UserPseudonymizer``).
    ///
    /// With `pseudonymize_user_ids` on, score records (`user` and the Kafka key) and user-entity
    /// alerts (`entity`, `alert_id`, `message`, key) carry HMAC-SHA256(key, user id) truncated to
    /// 32 hex characters instead of the id. Dead letters are not rewritten: they keep the input
    /// record byte for byte so it can be reprocessed (protect that topic like the input topic).
    /// The key comes from `key` or, better, from the environment variable named by `key_env`;
    /// with the option on and no usable key the daemon refuses to start.
    public struct Privacy: Codable, Sendable, Equatable {
        public var pseudonymizeUserIDs = false
        /// The secret itself (its UTF-8 bytes). Redacted in logs; prefer `key_env`.
        public var key = ""
        /// Name of an environment variable holding the secret.
        public var keyEnv = ""

        public init() {}

        enum CodingKeys: String, CodingKey {
            case pseudonymizeUserIDs = "pseudonymize_user_ids"
            case key
            case keyEnv = "key_env"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            pseudonymizeUserIDs = try c.decodeIfPresent(Bool.self, forKey: .pseudonymizeUserIDs) ?? false
            key = try c.decodeIfPresent(String.self, forKey: .key) ?? ""
            keyEnv = try c.decodeIfPresent(String.self, forKey: .keyEnv) ?? ""
        }

        /// Checks that need no environment.
        public func validate() throws(ConfigError) {
            guard pseudonymizeUserIDs else { return }
            switch (key.isEmpty, keyEnv.isEmpty) {
            case (true, true):
                throw ConfigError(key: "privacy.key_env",
                                  message: "pseudonymize_user_ids is on but no key is configured (set key_env or key)")
            case (false, false):
                throw ConfigError(key: "privacy.key", message: "set either key or key_env, not both")
            case (false, true):
                try Self.check(key.utf8.count, key: "privacy.key", source: "the key")
            case (true, false):
                return
            }
        }

        /// The pseudonymizer to use, or nil when the option is off.
        /// - Throws: when the option is on and the key is missing, too short, or `key_env` names
        ///   an unset or empty variable (the daemon must not start then).
        public func pseudonymizer(environment: [String: String]) throws(ConfigError) -> UserPseudonymizer? {
            try validate()
            guard pseudonymizeUserIDs else { return nil }
            if !key.isEmpty { return UserPseudonymizer(key: Array(key.utf8)) }
            guard let secret = environment[keyEnv], !secret.isEmpty else {
                throw ConfigError(key: "privacy.key_env",
                                  message: "environment variable \(keyEnv) is not set or empty; it must hold the pseudonymization key")
            }
            try Self.check(secret.utf8.count, key: "privacy.key_env", source: "environment variable \(keyEnv)")
            return UserPseudonymizer(key: Array(secret.utf8))
        }

        private static func check(_ bytes: Int, key: String, source: String) throws(ConfigError) {
            guard bytes >= UserPseudonymizer.minimumKeyBytes else {
                throw ConfigError(key: key,
                                  message: "\(source) is too short: at least \(UserPseudonymizer.minimumKeyBytes) bytes are needed")
            }
        }
    }

    /// The engine for this configuration, with user ids pseudonymized when `privacy` says so.
    /// `environment` resolves `privacy.key_env`.
    public func makeEngine(environment: [String: String]) throws(ConfigError) -> Engine {
        var engine = try Engine(config: self.engine)
        engine.setUserPseudonymizer(try privacy.pseudonymizer(environment: environment))
        return engine
    }
}
