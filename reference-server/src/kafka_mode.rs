//! Kafka mode (feature `kafka`): the server's settings mapped onto the Kafka layer's one
//! definition of a connection, `KafkaConfig`.

use vehicleops_kafka::KafkaConfig;

use crate::config::Config;
use crate::error::StartupError;

/// Kafka settings: the server's flags and variables, plus the security settings the Kafka
/// crate reads from the environment (`VEHICLEOPS_KAFKA_SASL_*`, `…_SSL_CA_LOCATION`).
pub fn kafka_config(config: &Config) -> Result<KafkaConfig, StartupError> {
    let mut k = KafkaConfig::from_env()?;
    k.bootstrap_servers = config.kafka_bootstrap_servers.clone();
    k.group_id = config.kafka_consumer_group.clone();
    k.topics.telemetry_raw = config.kafka_telemetry_topic.clone();
    k.topics.commands = config.kafka_commands_topic.clone();
    // `.staging` and `staging` name the same topics (`fleet.telemetry.raw.staging`, …): the
    // Kafka layer's one naming rule.
    let suffix = config.kafka_topic_suffix.trim_start_matches('.');
    if !suffix.is_empty() {
        k.topics = k.topics.with_suffix(suffix);
    }
    k.validate()?;
    Ok(k)
}
