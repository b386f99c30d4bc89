import CRdKafka

extension KafkaError {
    /// The TLS handshake failed (certificate not verified, hostname mismatch, protocol refused)
    /// or SASL authentication was refused: retrying with the same configuration cannot succeed.
    /// librdkafka reports a disconnect during the handshake as `_TRANSPORT`, not as this.
    public var isSecurityFailure: Bool {
        code == RD_KAFKA_RESP_ERR__SSL.rawValue || code == RD_KAFKA_RESP_ERR__AUTHENTICATION.rawValue
            || code == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED.rawValue
    }
}
