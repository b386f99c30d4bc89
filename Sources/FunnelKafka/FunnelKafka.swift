/// FunnelKafka: the only module that touches librdkafka.
