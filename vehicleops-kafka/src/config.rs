//! Kafka settings: where the brokers are, which consumer group, which topics, and how to
//! authenticate (plaintext locally; TLS and SASL for managed Kafka such as Amazon MSK).
//!
//! Every setting has the original system's default, so `KafkaConfig::default()` talks to a
//! local broker. [`KafkaConfig::from_env`] reads `VEHICLEOPS_KAFKA_*` variables and, for the
//! settings the original had, its variable names (`KAFKA_BOOTSTRAP_SERVERS`,
//! `KAFKA_TELEMETRY_TOPIC`, …); the `VEHICLEOPS_` name wins when both are set.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rdkafka::ClientConfig;
use vehicleops_core::{Error, Result};

/// The topics VehicleOps reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicNames {
    /// Raw telemetry from vehicles (key: vehicle id).
    pub telemetry_raw: String,
    /// Validated, enriched telemetry for fan-out to every server instance (key: vehicle id).
    pub telemetry_processed: String,
    /// Commands to vehicles (key: vehicle id).
    pub commands: String,
    /// Acknowledgements from vehicles (key: vehicle id).
    pub command_acks: String,
    /// Alert episodes (key: fleet id).
    pub alerts: String,
    /// Mission lifecycle events (key: mission id).
    pub missions: String,
    /// Readings that failed validation, with the reason and their source position.
    pub dead_letters: String,
}

impl TopicNames {
    /// These names with `.<suffix>` appended, to keep several deployments or test runs apart
    /// on one cluster.
    pub fn with_suffix(&self, suffix: &str) -> Self {
        let name = |base: &str| format!("{base}.{suffix}");
        TopicNames {
            telemetry_raw: name(&self.telemetry_raw),
            telemetry_processed: name(&self.telemetry_processed),
            commands: name(&self.commands),
            command_acks: name(&self.command_acks),
            alerts: name(&self.alerts),
            missions: name(&self.missions),
            dead_letters: name(&self.dead_letters),
        }
    }
}

impl Default for TopicNames {
    fn default() -> Self {
        TopicNames {
            telemetry_raw: "fleet.telemetry.raw".into(),
            telemetry_processed: "fleet.telemetry.processed".into(),
            commands: "fleet.commands".into(),
            command_acks: "fleet.commands.acks".into(),
            alerts: "fleet.alerts.triggered".into(),
            missions: "fleet.missions.events".into(),
            dead_letters: "fleet.telemetry.dlq".into(),
        }
    }
}

/// How clients talk to the brokers (`security.protocol`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

impl FromStr for SecurityProtocol {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "plaintext" => Ok(SecurityProtocol::Plaintext),
            "ssl" => Ok(SecurityProtocol::Ssl),
            "sasl_plaintext" => Ok(SecurityProtocol::SaslPlaintext),
            "sasl_ssl" => Ok(SecurityProtocol::SaslSsl),
            other => Err(Error::Config(format!(
                "unknown Kafka security protocol `{other}` \
                 (expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)"
            ))),
        }
    }
}

/// Everything needed to connect to Kafka and find VehicleOps' topics.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// Consumer group of the telemetry ingest; every server instance in one group shares the
    /// raw topic's partitions.
    pub group_id: String,
    /// Sent to the brokers, shows up in their logs and quotas.
    pub client_id: String,
    pub topics: TopicNames,
    pub security_protocol: SecurityProtocol,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (MSK uses SCRAM-SHA-512).
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<String>,
    /// PEM file of the CA that signed the brokers' certificates; the system store otherwise.
    pub ssl_ca_location: Option<String>,
    /// Further librdkafka properties, applied last (e.g. `socket.keepalive.enable`).
    pub extra: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: "localhost:9092".into(),
            group_id: "vehicleops-backend".into(),
            client_id: "vehicleops".into(),
            topics: TopicNames::default(),
            security_protocol: SecurityProtocol::Plaintext,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            ssl_ca_location: None,
            extra: BTreeMap::new(),
        }
    }
}

// The password must never reach a log line.
impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("group_id", &self.group_id)
            .field("client_id", &self.client_id)
            .field("topics", &self.topics)
            .field("security_protocol", &self.security_protocol)
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("sasl_username", &self.sasl_username)
            .field("sasl_password", &self.sasl_password.as_ref().map(|_| "***"))
            .field("ssl_ca_location", &self.ssl_ca_location)
            .field("extra", &self.extra)
            .finish()
    }
}

impl KafkaConfig {
    /// Defaults for everything but the bootstrap servers.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        KafkaConfig {
            bootstrap_servers: bootstrap_servers.into(),
            ..KafkaConfig::default()
        }
    }

    /// Reads the process environment; see [`KafkaConfig::from_lookup`].
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds a configuration from `lookup(variable name)`, falling back to the defaults.
    ///
    /// | setting | variables |
    /// |---|---|
    /// | bootstrap servers | `VEHICLEOPS_KAFKA_BOOTSTRAP_SERVERS`, `KAFKA_BOOTSTRAP_SERVERS` |
    /// | group id | `VEHICLEOPS_KAFKA_GROUP_ID`, `KAFKA_CONSUMER_GROUP` |
    /// | client id | `VEHICLEOPS_KAFKA_CLIENT_ID` |
    /// | raw telemetry topic | `VEHICLEOPS_KAFKA_TELEMETRY_TOPIC`, `KAFKA_TELEMETRY_TOPIC` |
    /// | processed topic | `VEHICLEOPS_KAFKA_PROCESSED_TOPIC` |
    /// | commands topic | `VEHICLEOPS_KAFKA_COMMANDS_TOPIC`, `KAFKA_COMMANDS_TOPIC` |
    /// | command acks topic | `VEHICLEOPS_KAFKA_COMMAND_ACKS_TOPIC` |
    /// | alerts topic | `VEHICLEOPS_KAFKA_ALERTS_TOPIC`, `KAFKA_ALERTS_TOPIC` |
    /// | missions topic | `VEHICLEOPS_KAFKA_MISSIONS_TOPIC`, `KAFKA_MISSIONS_TOPIC` |
    /// | dead-letter topic | `VEHICLEOPS_KAFKA_DEAD_LETTER_TOPIC` |
    /// | security protocol | `VEHICLEOPS_KAFKA_SECURITY_PROTOCOL`, `KAFKA_SECURITY_PROTOCOL` |
    /// | SASL | `VEHICLEOPS_KAFKA_SASL_MECHANISM`, `…_SASL_USERNAME`, `…_SASL_PASSWORD` |
    /// | TLS CA file | `VEHICLEOPS_KAFKA_SSL_CA_LOCATION` |
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| lookup(n).filter(|v| !v.trim().is_empty()))
                .map(|v| v.trim().to_owned())
        };
        let mut c = KafkaConfig::default();
        let set = |slot: &mut String, names: &[&str]| {
            if let Some(v) = get(names) {
                *slot = v;
            }
        };
        set(
            &mut c.bootstrap_servers,
            &[
                "VEHICLEOPS_KAFKA_BOOTSTRAP_SERVERS",
                "KAFKA_BOOTSTRAP_SERVERS",
            ],
        );
        set(
            &mut c.group_id,
            &["VEHICLEOPS_KAFKA_GROUP_ID", "KAFKA_CONSUMER_GROUP"],
        );
        set(&mut c.client_id, &["VEHICLEOPS_KAFKA_CLIENT_ID"]);
        let t = &mut c.topics;
        set(
            &mut t.telemetry_raw,
            &["VEHICLEOPS_KAFKA_TELEMETRY_TOPIC", "KAFKA_TELEMETRY_TOPIC"],
        );
        set(
            &mut t.telemetry_processed,
            &["VEHICLEOPS_KAFKA_PROCESSED_TOPIC"],
        );
        set(
            &mut t.commands,
            &["VEHICLEOPS_KAFKA_COMMANDS_TOPIC", "KAFKA_COMMANDS_TOPIC"],
        );
        set(
            &mut t.command_acks,
            &["VEHICLEOPS_KAFKA_COMMAND_ACKS_TOPIC"],
        );
        set(
            &mut t.alerts,
            &["VEHICLEOPS_KAFKA_ALERTS_TOPIC", "KAFKA_ALERTS_TOPIC"],
        );
        set(
            &mut t.missions,
            &["VEHICLEOPS_KAFKA_MISSIONS_TOPIC", "KAFKA_MISSIONS_TOPIC"],
        );
        set(&mut t.dead_letters, &["VEHICLEOPS_KAFKA_DEAD_LETTER_TOPIC"]);
        if let Some(p) = get(&[
            "VEHICLEOPS_KAFKA_SECURITY_PROTOCOL",
            "KAFKA_SECURITY_PROTOCOL",
        ]) {
            c.security_protocol = p.parse()?;
        }
        c.sasl_mechanism = get(&["VEHICLEOPS_KAFKA_SASL_MECHANISM", "KAFKA_SASL_MECHANISM"]);
        c.sasl_username = get(&["VEHICLEOPS_KAFKA_SASL_USERNAME", "KAFKA_SASL_USERNAME"]);
        c.sasl_password = get(&["VEHICLEOPS_KAFKA_SASL_PASSWORD", "KAFKA_SASL_PASSWORD"]);
        c.ssl_ca_location = get(&["VEHICLEOPS_KAFKA_SSL_CA_LOCATION", "KAFKA_SSL_CA_LOCATION"]);
        c.validate()?;
        Ok(c)
    }

    /// Checks that the settings fit together, so a misconfiguration fails at startup with a
    /// clear message rather than as endless authentication retries.
    pub fn validate(&self) -> Result<()> {
        if self.bootstrap_servers.trim().is_empty() {
            return Err(Error::Config("Kafka bootstrap servers are empty".into()));
        }
        if self.group_id.trim().is_empty() {
            return Err(Error::Config("Kafka consumer group id is empty".into()));
        }
        if self.security_protocol.uses_sasl() {
            if self.sasl_mechanism.is_none() {
                return Err(Error::Config(format!(
                    "Kafka security protocol {} needs a SASL mechanism \
                     (VEHICLEOPS_KAFKA_SASL_MECHANISM, e.g. SCRAM-SHA-512)",
                    self.security_protocol.as_str()
                )));
            }
            let needs_credentials = self
                .sasl_mechanism
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case("PLAIN") || m.starts_with("SCRAM"));
            if needs_credentials && (self.sasl_username.is_none() || self.sasl_password.is_none()) {
                return Err(Error::Config(
                    "Kafka SASL PLAIN/SCRAM needs a username and a password \
                     (VEHICLEOPS_KAFKA_SASL_USERNAME / VEHICLEOPS_KAFKA_SASL_PASSWORD)"
                        .into(),
                ));
            }
        } else if self.sasl_mechanism.is_some() {
            return Err(Error::Config(format!(
                "a SASL mechanism is set but the security protocol is {}; \
                 use SASL_SSL (or SASL_PLAINTEXT)",
                self.security_protocol.as_str()
            )));
        }
        Ok(())
    }

    /// [`KafkaConfig::client_config`] plus what every VehicleOps consumer shares: `group_id`,
    /// and a coordinator re-query interval short enough that losing the broker that
    /// coordinates the group costs seconds (librdkafka re-queries a dead coordinator at a tenth
    /// of this interval; its default, 10 min, means a minute).
    pub fn consumer_config(&self, group_id: &str) -> ClientConfig {
        let mut cc = self.client_config();
        cc.set("group.id", group_id)
            .set("coordinator.query.interval.ms", "20000");
        cc
    }

    /// The librdkafka properties every VehicleOps client shares: brokers, identity, security,
    /// then [`KafkaConfig::extra`].
    pub fn client_config(&self) -> ClientConfig {
        let mut cc = ClientConfig::new();
        cc.set("bootstrap.servers", &self.bootstrap_servers)
            .set("client.id", &self.client_id)
            .set("security.protocol", self.security_protocol.as_str())
            // Reconnect quickly after a broker restart, backing off to 10 s while it stays down.
            .set("reconnect.backoff.ms", "100")
            .set("reconnect.backoff.max.ms", "10000")
            // A consumer that subscribed before its topic showed in the broker's metadata (just
            // created, a busy cluster) is assigned at the next refresh: 10 s, not librdkafka's
            // 5 minutes, during which every command or ack on that topic would wait.
            .set("topic.metadata.refresh.interval.ms", "10000");
        if let Some(m) = &self.sasl_mechanism {
            cc.set("sasl.mechanisms", m);
        }
        if let Some(u) = &self.sasl_username {
            cc.set("sasl.username", u);
        }
        if let Some(p) = &self.sasl_password {
            cc.set("sasl.password", p);
        }
        if let Some(ca) = &self.ssl_ca_location {
            cc.set("ssl.ca.location", ca);
        }
        for (k, v) in &self.extra {
            cc.set(k, v);
        }
        cc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_are_the_original_systems() {
        let c = KafkaConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.bootstrap_servers, "localhost:9092");
        assert_eq!(c.group_id, "vehicleops-backend");
        assert_eq!(c.topics.telemetry_raw, "fleet.telemetry.raw");
        assert_eq!(c.topics.telemetry_processed, "fleet.telemetry.processed");
        assert_eq!(c.topics.commands, "fleet.commands");
        assert_eq!(c.topics.alerts, "fleet.alerts.triggered");
        assert_eq!(c.topics.missions, "fleet.missions.events");
        assert_eq!(c.security_protocol, SecurityProtocol::Plaintext);
    }

    #[test]
    fn original_variable_names_apply_and_vehicleops_names_win() {
        let c = KafkaConfig::from_lookup(lookup(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "a:1"),
            ("KAFKA_CONSUMER_GROUP", "g-original"),
            ("VEHICLEOPS_KAFKA_GROUP_ID", "g-new"),
            ("KAFKA_TELEMETRY_TOPIC", "raw2"),
            ("KAFKA_ALERTS_TOPIC", "alerts2"),
        ]))
        .unwrap();
        assert_eq!(c.bootstrap_servers, "a:1");
        assert_eq!(c.group_id, "g-new");
        assert_eq!(c.topics.telemetry_raw, "raw2");
        assert_eq!(c.topics.alerts, "alerts2");
    }

    #[test]
    fn msk_scram_settings_reach_librdkafka_and_the_password_stays_out_of_debug() {
        let c = KafkaConfig::from_lookup(lookup(&[
            ("VEHICLEOPS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("VEHICLEOPS_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
            ("VEHICLEOPS_KAFKA_SASL_USERNAME", "fleet"),
            ("VEHICLEOPS_KAFKA_SASL_PASSWORD", "s3cret"),
            ("VEHICLEOPS_KAFKA_SSL_CA_LOCATION", "/etc/ca.pem"),
        ]))
        .unwrap();
        let cc = c.client_config();
        assert_eq!(cc.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(cc.get("sasl.mechanisms"), Some("SCRAM-SHA-512"));
        assert_eq!(cc.get("sasl.username"), Some("fleet"));
        assert_eq!(cc.get("sasl.password"), Some("s3cret"));
        assert_eq!(cc.get("ssl.ca.location"), Some("/etc/ca.pem"));
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn consumers_join_the_given_group_and_find_a_new_coordinator_quickly() {
        let cc = KafkaConfig::new("b:9092").consumer_config("g-1");
        assert_eq!(cc.get("group.id"), Some("g-1"));
        assert_eq!(cc.get("bootstrap.servers"), Some("b:9092"));
        let interval: u64 = cc
            .get("coordinator.query.interval.ms")
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            interval / 10 <= 5_000,
            "dead coordinator re-queried every {interval} ms / 10"
        );
    }

    #[test]
    fn inconsistent_security_settings_are_refused_with_the_variable_to_set() {
        let e = KafkaConfig::from_lookup(lookup(&[(
            "VEHICLEOPS_KAFKA_SECURITY_PROTOCOL",
            "SASL_SSL",
        )]))
        .unwrap_err();
        assert!(
            e.to_string().contains("VEHICLEOPS_KAFKA_SASL_MECHANISM"),
            "{e}"
        );

        let e = KafkaConfig::from_lookup(lookup(&[
            ("VEHICLEOPS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("VEHICLEOPS_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("username"), "{e}");

        let e =
            KafkaConfig::from_lookup(lookup(&[("KAFKA_SECURITY_PROTOCOL", "TLS")])).unwrap_err();
        assert!(e.to_string().contains("SASL_SSL"), "{e}");
    }
}
