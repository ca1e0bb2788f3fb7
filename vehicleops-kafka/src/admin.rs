//! Topic administration: creates VehicleOps' topics with the original system's partition counts
//! and retention when they are missing, and reports how existing topics differ.
//!
//! | topic | key | partitions | retention |
//! |---|---|---|---|
//! | `fleet.telemetry.raw` | vehicle id | 12 | 24 h |
//! | `fleet.telemetry.processed` | vehicle id | 12 | 6 h |
//! | `fleet.commands` | vehicle id | 12 | 1 h |
//! | `fleet.alerts.triggered` | fleet id | 4 | 48 h |
//! | `fleet.missions.events` | mission id | 4 | 7 d |
//! | `fleet.commands.acks` (new) | vehicle id | 12 | 1 h |
//! | `fleet.telemetry.dlq` (new) | source partition | 4 | 7 d |
//!
//! Existing topics are never altered: fewer partitions would change which partition a vehicle
//! maps to, so that is a decision for an operator, not for a starting server.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;
use tracing::{info, warn};
use vehicleops_core::{Error, Result};

use crate::config::{KafkaConfig, TopicNames};
use crate::context::{LoggingContext, kafka_error};

/// The desired shape of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub retention: Duration,
}

const HOUR: u64 = 3600;

/// The topics VehicleOps uses, named by `topics`, with the original's partitions and retention.
pub fn standard_topics(topics: &TopicNames) -> Vec<TopicSpec> {
    let spec = |name: &str, partitions, hours| TopicSpec {
        name: name.to_owned(),
        partitions,
        retention: Duration::from_secs(hours * HOUR),
    };
    vec![
        spec(&topics.telemetry_raw, 12, 24),
        spec(&topics.telemetry_processed, 12, 6),
        spec(&topics.commands, 12, 1),
        spec(&topics.alerts, 4, 48),
        spec(&topics.missions, 4, 7 * 24),
        spec(&topics.command_acks, 12, 1),
        spec(&topics.dead_letters, 4, 7 * 24),
    ]
}

/// One way an existing topic differs from its spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicDifference {
    Partitions {
        topic: String,
        expected: i32,
        actual: i32,
    },
    Retention {
        topic: String,
        expected: Duration,
        /// `None` when the broker reports no finite retention.
        actual: Option<Duration>,
    },
}

impl fmt::Display for TopicDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicDifference::Partitions {
                topic,
                expected,
                actual,
            } => write!(
                f,
                "topic `{topic}` has {actual} partitions, expected {expected}"
            ),
            TopicDifference::Retention {
                topic,
                expected,
                actual,
            } => match actual {
                Some(a) => write!(
                    f,
                    "topic `{topic}` keeps records {} h, expected {} h",
                    a.as_secs_f64() / 3600.0,
                    expected.as_secs_f64() / 3600.0
                ),
                None => write!(
                    f,
                    "topic `{topic}` keeps records forever, expected {} h",
                    expected.as_secs_f64() / 3600.0
                ),
            },
        }
    }
}

/// What [`ensure_topics`] did and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicReport {
    pub created: Vec<String>,
    pub existing: Vec<String>,
    pub differences: Vec<TopicDifference>,
}

impl TopicReport {
    /// An error listing every difference, for deployments that must match exactly.
    pub fn require_match(&self) -> Result<()> {
        if self.differences.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = self.differences.iter().map(|d| d.to_string()).collect();
        Err(Error::Config(format!(
            "Kafka topics differ from the expected layout: {}",
            list.join("; ")
        )))
    }
}

/// Compares an existing topic with its spec.
fn compare(spec: &TopicSpec, partitions: i32, retention_ms: Option<i64>) -> Vec<TopicDifference> {
    let mut out = Vec::new();
    if partitions != spec.partitions {
        out.push(TopicDifference::Partitions {
            topic: spec.name.clone(),
            expected: spec.partitions,
            actual: partitions,
        });
    }
    let actual = retention_ms
        .filter(|ms| *ms >= 0)
        .map(|ms| Duration::from_millis(ms as u64));
    if actual != Some(spec.retention) {
        out.push(TopicDifference::Retention {
            topic: spec.name.clone(),
            expected: spec.retention,
            actual,
        });
    }
    out
}

/// Partition counts of the topics the cluster reports (leaving out topics whose partitions are
/// not known yet), and the number of brokers.
async fn partition_counts(
    admin: &Arc<AdminClient<LoggingContext>>,
    timeout: Duration,
) -> Result<(HashMap<String, i32>, usize)> {
    let admin = admin.clone();
    // A blocking call: keep it off the async workers.
    let metadata = tokio::task::spawn_blocking(move || admin.inner().fetch_metadata(None, timeout))
        .await
        .map_err(|e| Error::backend_msg("kafka", format!("metadata task failed: {e}")))?
        .map_err(|e| kafka_error("reading cluster metadata", e))?;
    let topics = metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
        .collect();
    Ok((topics, metadata.brokers().len()))
}

/// Creates the missing topics of `specs` and compares the existing ones, logging a warning per
/// difference. `replication_factor` defaults to min(3, number of brokers); `min.insync.replicas`
/// is set to 2 when the factor is at least 3, so `acks=all` survives the loss of one broker.
pub async fn ensure_topics(
    config: &KafkaConfig,
    specs: &[TopicSpec],
    replication_factor: Option<i32>,
    timeout: Duration,
) -> Result<TopicReport> {
    config.validate()?;
    let admin: Arc<AdminClient<LoggingContext>> = Arc::new(
        config
            .client_config()
            .create_with_context(LoggingContext { client: "admin" })
            .map_err(|e| kafka_error("creating the Kafka admin client", e))?,
    );
    let (mut existing, brokers) = partition_counts(&admin, timeout).await?;
    let replication = replication_factor.unwrap_or_else(|| (brokers as i32).clamp(1, 3));
    let opts = AdminOptions::new().request_timeout(Some(timeout));
    let mut report = TopicReport::default();

    let missing: Vec<&TopicSpec> = specs
        .iter()
        .filter(|s| !existing.contains_key(&s.name))
        .collect();
    let mut raced = Vec::new();
    if !missing.is_empty() {
        let retention: Vec<String> = missing
            .iter()
            .map(|s| s.retention.as_millis().to_string())
            .collect();
        let new_topics: Vec<NewTopic> = missing
            .iter()
            .zip(&retention)
            .map(|(s, ms)| {
                let t = NewTopic::new(&s.name, s.partitions, TopicReplication::Fixed(replication))
                    .set("retention.ms", ms);
                if replication >= 3 {
                    t.set("min.insync.replicas", "2")
                } else {
                    t
                }
            })
            .collect();
        let results = admin
            .create_topics(&new_topics, &opts)
            .await
            .map_err(|e| kafka_error("creating topics", e))?;
        for r in results {
            match r {
                Ok(name) => {
                    info!(topic = %name, replication, "created Kafka topic");
                    report.created.push(name);
                }
                // Created meanwhile (by another instance, or not yet in the metadata we read):
                // compare it below like any other.
                Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => raced.push(name),
                Err((name, code)) => {
                    return Err(Error::backend_msg(
                        "kafka",
                        format!("creating topic `{name}` failed: {code}"),
                    ));
                }
            }
        }
    }

    // Wait until every topic shows in the metadata with its partitions: a topic the
    // controller created is not yet known to the broker a client produces to, and a busy
    // cluster can take seconds to get there (producing meanwhile fails with
    // UnknownTopicOrPartition). Topics someone else created are compared below, so they must
    // show up; ours exist either way and are only waited for, up to `timeout`.
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let absent: Vec<&str> = specs
            .iter()
            .map(|s| s.name.as_str())
            .filter(|n| !existing.contains_key(*n))
            .collect();
        if absent.is_empty() {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            if let Some(name) = absent.iter().find(|n| raced.iter().any(|r| r == *n)) {
                return Err(Error::backend_msg(
                    "kafka",
                    format!(
                        "topic `{name}` exists but its partitions did not show in the cluster \
                         metadata within {timeout:?}"
                    ),
                ));
            }
            warn!(topics = ?absent, ?timeout, "created topics not yet in the cluster metadata");
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        existing = partition_counts(&admin, timeout).await?.0;
    }
    let to_check: Vec<&TopicSpec> = specs
        .iter()
        .filter(|s| existing.contains_key(&s.name) && !report.created.contains(&s.name))
        .collect();
    if !to_check.is_empty() {
        let resources: Vec<ResourceSpecifier> = to_check
            .iter()
            .map(|s| ResourceSpecifier::Topic(&s.name))
            .collect();
        let described = admin
            .describe_configs(&resources, &opts)
            .await
            .map_err(|e| kafka_error("describing topics", e))?;
        for (spec, result) in to_check.iter().zip(described) {
            let retention_ms = result.ok().and_then(|r| {
                r.get("retention.ms")
                    .and_then(|e| e.value.as_deref())
                    .and_then(|v| v.parse::<i64>().ok())
            });
            let diffs = compare(spec, existing[&spec.name], retention_ms);
            for d in &diffs {
                warn!("{d}");
            }
            report.existing.push(spec.name.clone());
            report.differences.extend(diffs);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_topics_carry_the_original_partitions_and_retention() {
        let specs = standard_topics(&TopicNames::default());
        let find = |n: &str| specs.iter().find(|s| s.name == n).unwrap();
        let h = |n| Duration::from_secs(n * HOUR);
        assert_eq!(find("fleet.telemetry.raw").partitions, 12);
        assert_eq!(find("fleet.telemetry.raw").retention, h(24));
        assert_eq!(find("fleet.telemetry.processed").retention, h(6));
        assert_eq!(find("fleet.commands").retention, h(1));
        assert_eq!(find("fleet.alerts.triggered").partitions, 4);
        assert_eq!(find("fleet.alerts.triggered").retention, h(48));
        assert_eq!(find("fleet.missions.events").partitions, 4);
        assert_eq!(find("fleet.missions.events").retention, h(168));
    }

    #[test]
    fn differences_name_the_topic_and_both_values() {
        let spec = TopicSpec {
            name: "fleet.alerts.triggered".into(),
            partitions: 4,
            retention: Duration::from_secs(48 * HOUR),
        };
        assert!(compare(&spec, 4, Some(48 * 3_600_000)).is_empty());
        let diffs = compare(&spec, 1, Some(-1));
        let text: Vec<String> = diffs.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            text,
            [
                "topic `fleet.alerts.triggered` has 1 partitions, expected 4",
                "topic `fleet.alerts.triggered` keeps records forever, expected 48 h",
            ]
        );
        let report = TopicReport {
            differences: diffs,
            ..TopicReport::default()
        };
        let err = report.require_match().unwrap_err().to_string();
        assert!(
            err.contains("has 1 partitions") && err.contains("forever"),
            "{err}"
        );
    }
}
