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
    let suffix = &config.kafka_topic_suffix;
    let t = &mut k.topics;
    for topic in [
        &mut t.telemetry_raw,
        &mut t.telemetry_processed,
        &mut t.commands,
        &mut t.command_acks,
        &mut t.alerts,
        &mut t.missions,
        &mut t.dead_letters,
    ] {
        topic.push_str(suffix);
    }
    k.validate()?;
    Ok(k)
}
